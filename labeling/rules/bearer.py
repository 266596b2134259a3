"""Bearer secrets (project API keys, operator tokens), written once: `<kind><prefix>_<secret>`, where the prefix finds
the row and the SHA-256 hash of the whole string proves it. Only the hash is stored; the secrets are 256-bit random
tokens, so a fast hash is enough (no password stretching needed)."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Minted:
    prefix: str  # stored as it is: finds the row
    secret: str  # shown once, never stored
    secret_hash: str


def mint(kind: str) -> Minted:
    """A new secret of this kind ("el_", "elop_"): its prefix, the whole secret, and the hash to store."""
    prefix = secrets.token_hex(6)
    secret = f"{kind}{prefix}_{secrets.token_urlsafe(32)}"
    return Minted(prefix=prefix, secret=secret, secret_hash=secret_hash(secret))


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def prefix_of(secret: str, kind: str) -> str | None:
    """The prefix of a secret of this kind, or None when it is not shaped like one."""
    if not secret.startswith(kind) or secret.count("_") < 2:
        return None
    return secret[len(kind) :].split("_", 1)[0]


def proves(secret: str, stored_hash: str) -> bool:
    """Whether the secret is the one whose hash was stored (in constant time)."""
    return hmac.compare_digest(stored_hash, secret_hash(secret))
