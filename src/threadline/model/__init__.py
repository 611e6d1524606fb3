"""Model clients: a :class:`ModelRequest` in, a stream of :data:`ModelEvent` out."""

from typing import TYPE_CHECKING, Any

from threadline.model.base import (
    ModelClient,
    ModelConfigError,
    ModelError,
    ModelEvent,
    ModelRequest,
    ModelRetriesExhausted,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseCompleted,
    ResponseCreated,
    RetryScheduled,
)

if TYPE_CHECKING:
    from threadline.model.chat import ChatCompletionsClient
    from threadline.model.responses import ResponsesClient
    from threadline.model.retry import RetryPolicy

_LAZY = {
    "ChatCompletionsClient": "threadline.model.chat",
    "ResponsesClient": "threadline.model.responses",
    "RetryPolicy": "threadline.model.retry",
}


def __getattr__(name: str) -> Any:
    """The clients import ``openai``; load them only when asked for (CLI start-up)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)

__all__ = [
    "ChatCompletionsClient",
    "ModelClient",
    "ModelConfigError",
    "ModelError",
    "ModelEvent",
    "ModelRequest",
    "ModelRetriesExhausted",
    "OutputItemAdded",
    "OutputItemDone",
    "OutputTextDelta",
    "ReasoningSummaryDelta",
    "ReasoningSummaryPartAdded",
    "ResponseCompleted",
    "ResponseCreated",
    "ResponsesClient",
    "RetryPolicy",
    "RetryScheduled",
]
