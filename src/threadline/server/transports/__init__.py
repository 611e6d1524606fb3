"""Transports: stdio (JSON lines), websocket, and in-memory pairs. No method knowledge."""

from threadline.server.transports.base import Incoming, MessageChannel

__all__ = ["Incoming", "MessageChannel"]
