"""``thread/*`` methods threadline answers beyond Codex 0.169's generated schema.

Codex serves these as experimental methods, left out of the schema it generates;
threadline answers them with the shapes below (camelCase like every v2 type).
"""

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.thread import Thread


class ThreadMemoryModeSetParams(WireModel):
    """``thread/memoryMode/set``: ``mode`` is ``enabled`` or ``disabled`` (checked by core,
    which words the error)."""

    thread_id: str
    mode: str


class ThreadMemoryModeSetResponse(WireModel):
    """The empty ``thread/memoryMode/set`` answer."""


class ThreadRollbackParams(WireModel):
    """``thread/rollback``: drop the last ``num_turns`` turns of a loaded thread."""

    thread_id: str
    num_turns: int


class ThreadRollbackResponse(WireModel):
    thread: Thread


class ThreadElicitationParams(WireModel):
    """``thread/increment_elicitation`` and ``thread/decrement_elicitation``."""

    thread_id: str


class ThreadElicitationResponse(WireModel):
    """The elicitation counter after the change; the thread is paused while it is above 0."""

    count: int
    paused: bool


__all__ = [
    "ThreadElicitationParams",
    "ThreadElicitationResponse",
    "ThreadMemoryModeSetParams",
    "ThreadMemoryModeSetResponse",
    "ThreadRollbackParams",
    "ThreadRollbackResponse",
]
