"""``--listen`` URLs of ``threadline app-server`` (no command-line toolkit needed)."""

from __future__ import annotations

from urllib.parse import urlsplit


def parse_ws_listen(value: str) -> tuple[str, int] | None:
    """``ws://HOST:PORT`` → (host, port); ``ws://:PORT`` binds the loopback interface, like
    an explicit 127.0.0.1. ``None`` when ``value`` is not such a URL."""
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "ws" or port is None or parts.path not in ("", "/"):
        return None
    return parts.hostname or "127.0.0.1", port
