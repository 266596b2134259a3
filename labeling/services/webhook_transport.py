"""One POST of a webhook: resolve the host, refuse any address that is not public, connect to the checked
address, follow no redirect, and give up after a total deadline.

httpx (asynchronous, so `asyncio.wait_for` bounds the whole attempt: DNS, connect, TLS, headers and body,
however slowly a receiver trickles them). The request goes to the checked IP address itself, with the
`Host` header and TLS server name (`sni_hostname`, also the name the certificate is checked against) of the
URL's host: a name that resolves to a public address for the check and to 127.0.0.1 a moment later (DNS
rebinding) is never looked up a second time. Proxies from the environment are ignored (`trust_env=False`):
they would connect somewhere the check never saw. The name is looked up in a thread of its own that nobody
waits for (not the loop's executor, which `asyncio.run` joins on the way out): a resolver that hangs cannot
stretch the attempt past its deadline, and so past the lease of the worker's claim.
"""

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from labeling.rules.webhooks import address_refusal

RESPONSE_KEPT_CHARS = 500  # of a receiver's answer, in the delivery log


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got: an HTTP status (None when no answer came), an error, the time it took."""

    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Refused(Exception):
    """The URL's host resolves to an address webhooks may not go to."""


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    allow_private: bool,
    connect_timeout: float,
    total_timeout: float,
    verify: ssl.SSLContext | bool = True,
) -> Answer:
    """POST `body` to `url` once; never raises for the network's or the receiver's failures. `verify`: the
    certificates trusted (the system's by default; a test's own authority in the tests)."""
    # Imported here, in the webhook worker that posts: web processes import this module (services.webhooks resolves
    # addresses with it) but never post, and httpx would cost each of them ~4 MB.
    import httpx

    started = time.monotonic()

    def answer(status_code: int | None, error: str) -> Answer:
        return Answer(status_code, error[:2000], round((time.monotonic() - started) * 1000))

    try:
        status, text = asyncio.run(
            asyncio.wait_for(
                _post(url, body, headers, allow_private=allow_private, connect_timeout=connect_timeout, verify=verify),
                timeout=total_timeout,
            )
        )
    except Refused as exc:
        return answer(None, f"Refused: {exc}")
    except TimeoutError:
        return answer(None, f"Timed out: no complete answer within {total_timeout:g} s.")
    except httpx.ConnectTimeout:
        return answer(None, f"Timed out connecting (more than {connect_timeout:g} s).")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError, ValueError) as exc:
        # A receiver's or the network's failure, or a host name no resolver takes: this attempt failed.
        return answer(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if 300 <= status < 400:
        return answer(status, f"A redirect (HTTP {status}) is not followed: post to the final URL instead.")
    if not 200 <= status < 300:
        return answer(status, f"HTTP {status}: {text}".strip())
    return answer(status, "")


async def _post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    connect_timeout: float,
    verify: ssl.SSLContext | bool,
) -> tuple[int, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    address = await _checked_address(host, port, allow_private=allow_private)
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": host} if https else {}
    import httpx

    timeout = httpx.Timeout(None, connect=connect_timeout)  # the total deadline is the caller's wait_for
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False, verify=verify) as client:
        request = client.build_request(
            "POST", target, content=body, headers={**headers, "Host": host_header}, extensions=extensions
        )
        response = await client.send(request, stream=True)
        try:
            kept = b""
            async for chunk in response.aiter_raw():
                kept += chunk
                if len(kept) >= RESPONSE_KEPT_CHARS:
                    break
        finally:
            await response.aclose()
    return response.status_code, kept[:RESPONSE_KEPT_CHARS].decode("utf-8", "replace")


async def _checked_address(host: str, port: int, *, allow_private: bool) -> str:
    """The first address `host` resolves to, once every address it resolves to is allowed."""
    try:
        infos = await _resolve(host, port)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                raise Refused(f"{host} resolves to {address}, {refusal}; webhooks go to public addresses only.")
    return addresses[0]


async def _resolve(host: str, port: int) -> list:
    """socket.getaddrinfo in a daemon thread: when the deadline passes first, the attempt ends at once and
    the thread finishes (or not) on its own."""
    loop = asyncio.get_running_loop()
    result = loop.create_future()

    def settle(outcome: object, failed: bool) -> None:
        if not result.done():
            result.set_exception(outcome) if failed else result.set_result(outcome)

    def lookup() -> None:
        try:
            outcome, failed = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), False
        except Exception as exc:  # every failure goes back to the attempt, which says what it was
            outcome, failed = exc, True
        try:
            loop.call_soon_threadsafe(settle, outcome, failed)
        except RuntimeError:
            pass  # the loop is closed: the attempt gave up on this lookup already

    threading.Thread(target=lookup, name=f"webhook-dns-{host}"[:60], daemon=True).start()
    return await result


def resolve_within(host: str, port: int, *, timeout: float) -> list | None:
    """socket.getaddrinfo bounded by `timeout` (a daemon thread left to finish on its own): None when it took
    longer; a lookup's own failure is raised (socket.gaierror, UnicodeError)."""
    finished = threading.Event()
    outcome: dict[str, object] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except Exception as exc:  # raised in the caller's thread below
            outcome["error"] = exc
        finished.set()

    threading.Thread(target=lookup, name=f"webhook-dns-{host}"[:60], daemon=True).start()
    if not finished.wait(timeout):
        return None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["infos"]
