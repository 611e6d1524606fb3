"""Errors the core raises. The server maps them to JSON-RPC codes in one place."""

from __future__ import annotations

from typing import Any


class CoreError(Exception):
    """Root of core failures. ``message`` is shown to clients as-is."""

    def __init__(self, message: str, *, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class InvalidRequest(CoreError):
    """The request cannot be honoured in the thread's current state."""


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
