"""Which webhook URLs and addresses expertloop may send to, and which events an endpoint may hear (a payload writes
a moment as every moment handed out is written: `rules.moments.utc_moment`).

Two checks, because a name can change its address at any time: `check_url` when an endpoint is saved (the
form's errors), and `address_refusal` on every address the name resolves to, each time a delivery is sent
(services/webhook_transport.py), which then connects to the address it checked.
"""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings

from labeling.exceptions import InvalidInput, InvalidUrl
from labeling.models import SLACK_EVENTS, WebhookEvent, WebhookKind
from labeling.rules.text import listed

MAX_URL_LENGTH = 2000
SLACK_HOST = "hooks.slack.com"
# NAT64 (RFC 6052's well-known prefix): the last 32 bits are the IPv4 address the gateway connects to.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# Added where a URL is refused for what WEBHOOKS_ALLOW_PRIVATE allows: a developer's local receiver is the usual case.
ALLOW_LOCAL_RECEIVERS = (
    "To post to a receiver on this machine or your network in local development, set WEBHOOKS_ALLOW_PRIVATE=true "
    "(never in production)."
)


def local_receivers_hint() -> str:
    """ALLOW_LOCAL_RECEIVERS after a refusal (with its leading space), under DEBUG only: it is for a developer's
    machine, and a production server's lead has no business with the setting."""
    return f" {ALLOW_LOCAL_RECEIVERS}" if settings.DEBUG else ""


def address_refusal(address: str) -> str | None:
    """Why a webhook may not be sent to this IP address ("a loopback address", …), or None for a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) names no other address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    elif isinstance(ip, ipaddress.IPv6Address) and ip in NAT64_PREFIX:
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)  # 64:ff9b::7f00:1 reaches 127.0.0.1, 64:ff9b::808:808 8.8.8.8
    for kind, applies in (
        ("loopback", ip.is_loopback),
        # fec0::/10: deprecated, routed inside a site only, yet Python counts it global.
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
    ):
        if applies:
            return f"a {kind} address"
    if not ip.is_global:
        return "not a public address"  # e.g. 100.64.0.0/10, shared by carriers
    return None


def check_url(url: str, *, kind: str, allow_private: bool) -> str:
    """The URL, trimmed, if an endpoint of `kind` may post to it; else InvalidUrl saying what is wrong.

    https:// only (http:// too when `allow_private`), a host, no user name or password (they would show in
    the log), no literal address or `localhost` that is not public unless `allow_private`; a Slack endpoint's
    URL is an incoming webhook of hooks.slack.com.
    """
    url = (url or "").strip()
    if not url:
        raise InvalidUrl("Enter the URL to post to.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(f"A webhook URL is at most {MAX_URL_LENGTH:,} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidUrl("A URL has no spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidUrl("This is not a valid URL: check the host and the port.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes:
        if allow_private:
            raise InvalidUrl("A webhook URL starts with https:// or http://.")
        local_hint = local_receivers_hint() if parts.scheme.lower() == "http" else ""
        raise InvalidUrl(f"Only https:// URLs may receive webhooks.{local_hint}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise InvalidUrl("The URL has no host name.")
    try:
        host.encode("idna")  # what the resolver is given: a name it cannot take would fail every attempt
    except UnicodeError:
        raise InvalidUrl(
            f"{host[:100]} is not a valid host name: its dot-separated parts are 1 to 63 characters."
        ) from None
    if parts.username is not None or parts.password is not None:
        raise InvalidUrl("Put no user name or password in the URL: the receiver checks the signature instead.")
    if port == 0:
        raise InvalidUrl("Port 0 is not a port to send to.")
    if parts.fragment:
        raise InvalidUrl("A webhook URL has no #fragment: it is never sent to the server.")
    if not allow_private:
        if host == "localhost" or host.endswith(".localhost"):
            raise InvalidUrl(
                f"{host} is this machine (a loopback address): webhooks go to public addresses only."
                f"{local_receivers_hint()}"
            )
        try:
            refusal = address_refusal(host)
        except ValueError:
            refusal = None  # a name, resolved and checked at each send
        if refusal:
            raise InvalidUrl(f"{host} is {refusal}: webhooks go to public addresses only.{local_receivers_hint()}")
        if kind == WebhookKind.SLACK and host != SLACK_HOST:
            raise InvalidUrl(f"A Slack endpoint posts to an incoming-webhook URL: https://{SLACK_HOST}/services/…")
    return url


def check_events(events: list[str] | tuple[str, ...], *, kind: str) -> list[str]:
    """The events, in their documented order, or InvalidInput naming an unknown one (or one Slack cannot show)."""
    events = [str(event) for event in events or []]
    unknown = [event for event in events if event not in WebhookEvent.values]
    if unknown:
        raise InvalidInput(f"Unknown event {unknown[0]!r}: choose from {', '.join(WebhookEvent.values)}.")
    if not events:
        raise InvalidInput("Choose at least one event.")
    if kind == WebhookKind.SLACK:
        other = [event for event in events if event not in SLACK_EVENTS]
        if other:
            raise InvalidInput(
                f"A Slack endpoint posts {listed(SLACK_EVENTS)} only; {other[0]} is for a standard endpoint."
            )
    return [event for event in WebhookEvent.values if event in events]
