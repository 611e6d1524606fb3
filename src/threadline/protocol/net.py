"""Whether an address is this machine's loopback interface (one rule for every layer)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1`` (brackets allowed: ``[::1]``).

    Used where threadline binds a listener: a name is only trusted when it cannot mean
    another machine, so ``*.localhost`` names are not accepted here.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str | None) -> bool:
    """True when ``url``'s host is loopback, ``*.localhost`` included (RFC 6761 reserves
    those names for loopback); used to decide that a model server on this machine needs
    no API key."""
    if not url:
        return False
    host = urlsplit(url).hostname
    if host is None:
        return False
    return host.endswith(".localhost") or is_loopback_host(host)


__all__ = ["is_loopback_host", "is_loopback_url"]
