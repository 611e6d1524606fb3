"""What a transport hands to the server: one already-framed, already-parsed channel.

Transports know nothing about methods. Incoming items are parsed messages or
:class:`~threadline.protocol.jsonrpc.InvalidMessage` (for lines/frames that are
not JSON-RPC); outgoing items are JSON objects, written one per line or frame.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from threadline.protocol.jsonrpc import InvalidMessage, JsonObject, JSONRPCMessage

Incoming = JSONRPCMessage | InvalidMessage


class MessageChannel(Protocol):
    """One client connection as seen by the server."""

    @property
    def peer(self) -> str:
        """A short human-readable description of the other end (for logs)."""
        ...

    def incoming(self) -> AsyncIterator[Incoming]:
        """Messages from the client, in arrival order, until it disconnects."""
        ...

    async def send(self, message: JsonObject) -> None:
        """Write one message; raises when the peer is gone."""
        ...

    async def close(self, reason: str = "") -> None:
        """Close the connection (idempotent); ``incoming`` then ends."""
        ...
