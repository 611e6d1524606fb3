"""Model clients: a :class:`ModelRequest` in, a stream of :data:`ModelEvent` out."""

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
from threadline.model.chat import ChatCompletionsClient
from threadline.model.responses import ResponsesClient
from threadline.model.retry import RetryPolicy

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
