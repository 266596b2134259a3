"""The demo's redaction rules, and the contact details some shoppers type, so the redaction has work to do.

Shoppers of a UK shop: phone numbers written the British way (default region GB). The details are made
up (example.com addresses, Ofcom's drama range for landlines, test card and IBAN numbers) and are redacted at ingest
anyway: the stored demo shows the placeholders, the lead's Redaction screen the rules.
"""

import hashlib
from typing import Any

RULES: dict[str, Any] = {
    "builtins": ["email", "phone", "card", "iban"],
    "custom": [{"name": "gift-card", "pattern": r"\bGC-[A-Z0-9]{4}-[A-Z0-9]{4}\b"}],
    "phone_region": "GB",
}

_SENTENCES = [
    "You can reach me at {name}@example.com if that's easier.",
    "Or call me back on 020 7946 0{n:03d}, I'm in all day.",
    "My mobile is +44 7911 123{n:03d} if you need it.",
    "It was paid with my card 4111 1111 1111 1111.",
    "Please refund to my bank instead: GB82 WEST 1234 5698 7654 32.",
    "I also have a gift card GC-7Q2M-{n:04d} I'd rather use.",
]
# One conversation in five, about accounts or billing, carries a detail.
_SHARE = 5
_TOPICS = {"account", "billing"}


def add_contact_details(outputs: list[dict[str, Any]]) -> None:
    """Append a contact detail to the last shopper message of some conversations (chosen by id, not by chance)."""
    for record in outputs:
        digest = hashlib.sha256(record["external_id"].encode()).digest()
        if record["metadata"].get("topic") not in _TOPICS or digest[0] % _SHARE:
            continue
        messages = record["input"] if isinstance(record["input"], list) else None
        if not messages:
            continue
        last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        if last is None or not isinstance(last.get("content"), str):
            continue
        sentence = _SENTENCES[digest[1] % len(_SENTENCES)]
        name = f"shopper.{record['end_user_id'].removeprefix('u_')[:6]}"
        last["content"] = f"{last['content']} {sentence.format(name=name, n=int.from_bytes(digest[2:4]) % 1000)}"
