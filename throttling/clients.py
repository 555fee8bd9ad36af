"""Who is asking: the client's address, as our trusted proxies saw it."""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest) -> str | None:
    """The address of the client behind `TRUSTED_PROXY_COUNT` proxies of ours (0: the peer of the connection).

    Each proxy appends the address it received the request from to X-Forwarded-For, so with N proxies the Nth
    entry from the right is the one our outermost proxy wrote: the client. Entries further left are whatever the
    client sent, and are never believed.
    """
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    proxies = int(settings.TRUSTED_PROXY_COUNT)
    if proxies <= 0:
        return remote
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
    if not forwarded:
        return remote
    # Fewer entries than proxies: the request came through fewer of ours; the left-most entry is still one of theirs.
    written_by_our_outermost_proxy = forwarded[-min(proxies, len(forwarded))]
    address = _address(written_by_our_outermost_proxy)
    if address is None:
        logger.warning("No address where our outermost proxy writes in X-Forwarded-For: check TRUSTED_PROXY_COUNT")
        return remote
    return address


def client_key(address: str | None) -> str | None:
    """What a per-client limit counts: the IPv4 address, or the /64 network of an IPv6 address (one host can
    have a whole /64, so counting single IPv6 addresses would let it dodge every limit)."""
    if not address:
        return None
    ip = ipaddress.ip_address(address)
    return str(ipaddress.IPv6Network((ip, 64), strict=False)) if ip.version == 6 else str(ip)


def _address(text: str) -> str | None:
    """An IP address from `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`; None if it is none."""
    candidate = text.strip()
    if candidate.startswith("["):
        candidate = candidate[1:].split("]", 1)[0]
    elif candidate.count(":") == 1:
        candidate = candidate.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)
