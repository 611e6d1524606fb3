"""JSON-RPC error codes used on the app-server wire."""

from __future__ import annotations

from typing import Final

PARSE_ERROR: Final = -32700
"""The line was not valid JSON."""

INVALID_REQUEST: Final = -32600
"""Valid JSON but not a valid request, or a request the current state refuses."""

METHOD_NOT_FOUND: Final = -32601
"""No handler is registered for the method."""

INVALID_PARAMS: Final = -32602
"""The params failed validation against the method's params type."""

INTERNAL_ERROR: Final = -32603
"""A handler raised an unexpected exception; the connection keeps serving."""

SERVER_OVERLOADED: Final = -32001
"""The ingress queue is full; the client should retry later."""

OVERLOADED_MESSAGE: Final = "Server overloaded; retry later."

NOT_INITIALIZED_MESSAGE: Final = "Not initialized"
"""Sent with ``INVALID_REQUEST`` for any request that arrives before ``initialize``."""

ALREADY_INITIALIZED_MESSAGE: Final = "Already initialized"
"""Sent with ``INVALID_REQUEST`` for a second ``initialize`` on the same connection."""
