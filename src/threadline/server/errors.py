"""The one seam where exceptions become JSON-RPC error objects.

Handlers raise :class:`RpcError` for a precise code and message. Other layers'
error types can be mapped to a code once, with :func:`register_error_code`
(for example ``register_error_code(core.errors.CoreError, codes.INVALID_REQUEST)``):
such an exception is answered with that code and ``str(exc)`` as message.
Anything else is an internal error (``-32603``), logged with its traceback.
"""

from __future__ import annotations

from typing import Any

from threadline.protocol import codes
from threadline.protocol.jsonrpc import ErrorObject

__all__ = ["ConnectionClosedError", "RpcError", "error_object_for", "register_error_code"]


class RpcError(Exception):
    """A JSON-RPC error to send as the answer to the current request.

    Also raised by ``Connection.send_request`` when the client answers a
    server→client request with an error.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error_object(self) -> ErrorObject:
        return ErrorObject(self.code, self.message, self.data)

    def __repr__(self) -> str:
        return f"RpcError({self.code}, {self.message!r})"


class ConnectionClosedError(Exception):
    """The connection closed before a server→client request was answered."""


_ERROR_CODES: dict[type[BaseException], int] = {}


def register_error_code(exc_type: type[BaseException], code: int) -> None:
    """Answer every ``exc_type`` (and subclasses) with ``code`` and ``str(exc)``."""
    _ERROR_CODES[exc_type] = code


def error_object_for(exc: BaseException) -> tuple[ErrorObject, bool]:
    """The error object for ``exc``, and whether it is unexpected (to be logged)."""
    if isinstance(exc, RpcError):
        return exc.to_error_object(), False
    for klass in type(exc).__mro__:
        code = _ERROR_CODES.get(klass)
        if code is not None:
            return ErrorObject(code, str(exc)), False
    text = str(exc) or type(exc).__name__
    return ErrorObject(codes.INTERNAL_ERROR, f"Internal error: {text}"), True
