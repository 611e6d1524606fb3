"""Errors the core raises. The server maps them to JSON-RPC codes in one place."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from typing import Any


class CoreError(Exception):
    """Root of core failures. ``message`` is shown to clients as-is."""

    def __init__(self, message: str, *, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class InvalidRequest(CoreError):
    """The request cannot be honoured in the thread's current state."""


class NotWritable(InvalidRequest):
    """A change cannot be stored: the home, or the file or directory it writes, is
    read-only (or not ours). ``reason`` names the path, e.g. "`/h/sessions` is on a
    read-only file system"."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"cannot {action}: {reason}")
        self.action = action
        self.reason = reason

    @classmethod
    def from_os_error(cls, action: str, exc: OSError) -> NotWritable | None:
        """The error for an ``OSError`` that says a path cannot be written (``EROFS``,
        ``EACCES``, ``EPERM``); ``None`` for any other failure (a full disk, I/O)."""
        if exc.errno == errno.EROFS:
            why = "is on a read-only file system"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            why = "is not writable"
        else:
            return None
        where = f"`{exc.filename}`" if exc.filename is not None else "the home"
        return cls(action, f"{where} {why}")


@contextlib.contextmanager
def storing(action: str) -> Iterator[None]:
    """Raise :class:`NotWritable` for an ``OSError`` of the block that says a path cannot
    be written (a home that became read-only after the up-front checks)."""
    try:
        yield
    except OSError as exc:
        error = NotWritable.from_os_error(action, exc)
        if error is None:
            raise
        raise error from exc


class ThreadNotFound(CoreError):
    def __init__(self, thread_id: str, message: str | None = None) -> None:
        super().__init__(message or f"thread not found: {thread_id}")
        self.thread_id = thread_id


class EmptyInput(InvalidRequest):
    def __init__(self) -> None:
        super().__init__("input must not be empty")


class NoActiveTurn(InvalidRequest):
    def __init__(self, action: str = "steer") -> None:
        super().__init__(f"no active turn to {action}")


class ExpectedTurnMismatch(InvalidRequest):
    def __init__(self, expected: str, actual: str, *, backticks: bool = True) -> None:
        if backticks:
            message = f"expected active turn id `{expected}` but found `{actual}`"
        else:
            message = f"expected active turn id {expected} but found {actual}"
        super().__init__(message, data={"expectedTurnId": expected, "activeTurnId": actual})
        self.expected = expected
        self.actual = actual


class TurnNotSteerable(InvalidRequest):
    def __init__(self, kind: str) -> None:
        super().__init__(
            f"cannot steer a {kind} turn",
            data={"codexErrorInfo": {"activeTurnNotSteerable": {"turnKind": kind}}},
        )


class ElicitationCountError(InvalidRequest):
    """Decrement at zero, or increment past the counter's limit."""


class McpServerNotFound(InvalidRequest):
    def __init__(self, server: str) -> None:
        super().__init__(f"no MCP server named {server}")
        self.server = server
