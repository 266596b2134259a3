"""A client address as sign-in throttling counts it: an IPv4 address, or an IPv6 client's /64 (one client usually
holds a whole /64, and could rotate through it). The sign-in view and the operator's unlock both name it so."""

import ipaddress


def counted_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def parse_counted_address(text: str) -> str | None:
    """The counted form of an address an operator typed: an IP address as the logs show it, or an IPv6 network as
    the admin's throttle rows show it (2001:db8:1:2::/64); None if the text is neither."""
    text = text.strip()
    try:
        return counted_address(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        return counted_address(ipaddress.IPv6Network(text, strict=False).network_address)
    except ValueError:
        return None
