"""The model-client boundary: a request in, a stream of typed events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from threadline.protocol.items import ResponseItem
from threadline.protocol.records import record
from threadline.protocol.usage import TokenUsage


@dataclass(slots=True)
class ModelRequest:
    """Everything one sampling call needs. ``input`` is the full history (no previous_response_id)."""

    model: str
    input: list[ResponseItem]
    tools: list[dict[str, Any]] = field(default_factory=list)
    """Tool specs in Responses API shape: ``{"type": "function", "name", "description", "parameters", "strict"}``."""
    instructions: str | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = "auto"
    parallel_tool_calls: bool = True
    prompt_cache_key: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    client_metadata: dict[str, str] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    """The JSON schema the answer must follow (``turn/start``'s ``outputSchema``)."""


# ---- events -----------------------------------------------------------------


@record
class ResponseCreated:
    response_id: str | None


@record
class OutputItemAdded:
    """An output item began streaming (its id lets the core open a v2 item early)."""

    item: ResponseItem


@record
class OutputTextDelta:
    item_id: str
    delta: str


@record
class ReasoningSummaryPartAdded:
    item_id: str
    summary_index: int


@record
class ReasoningSummaryDelta:
    item_id: str
    delta: str
    summary_index: int


@record
class ToolInputDelta:
    """More of a freeform (``custom``) tool call's input, while the model still streams it."""

    item_id: str
    delta: str


@record
class OutputItemDone:
    item: ResponseItem


@record
class ResponseCompleted:
    response_id: str | None
    usage: TokenUsage | None


@record
class RetryScheduled:
    """The client hit a retryable failure and will try again after ``delay_s``."""

    attempt: int
    max_attempts: int
    delay_s: float
    message: str


ModelEvent = (
    ResponseCreated
    | OutputItemAdded
    | OutputTextDelta
    | ReasoningSummaryPartAdded
    | ReasoningSummaryDelta
    | ToolInputDelta
    | OutputItemDone
    | ResponseCompleted
    | RetryScheduled
)


# ---- errors -----------------------------------------------------------------


class ModelError(Exception):
    """Root of model-layer failures. ``message`` is readable by a person."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ModelRetriesExhausted(ModelError):
    """Every retry failed; the last cause is in the message."""


CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
"""The error code OpenAI-compatible servers send when a request does not fit the window."""


class ContextWindowExceeded(ModelError):
    """The model reported that the request does not fit its context window
    (``context_length_exceeded``)."""


class ModelConfigError(ModelError):
    """The provider is misconfigured (missing API key, bad base URL, missing model file)."""


# ---- the client interface ----------------------------------------------------


class ModelClient(Protocol):
    """A streaming model client. Implementations: Responses API, Chat Completions, local llama.cpp."""

    @property
    def provider_id(self) -> str: ...

    def context_window(self, model: str) -> int | None:
        """The model's context window in tokens, when known."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Sample once. Yields events; ends after :class:`ResponseCompleted` or raises :class:`ModelError`.

        Cancelling the consuming task must close the underlying HTTP stream promptly.
        """
        ...

    async def aclose(self) -> None: ...
