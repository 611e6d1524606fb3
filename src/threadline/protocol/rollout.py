"""Rollout line types, spelled exactly as Codex writes them (snake_case JSON).

A rollout is a JSONL file; every line is a :class:`RolloutLine`
``{"timestamp", ["ordinal",] "type", "payload"[, "metadata"]}``. The ``type``
selects how ``payload`` is read:

* ``session_meta``  -> :class:`SessionMeta` (with an optional ``git`` block)
* ``response_item`` -> a model-visible ``ResponseItem`` (see :mod:`.items`)
* ``compacted``     -> :class:`CompactedItem`
* ``turn_context``  -> :class:`TurnContextItem`
* ``event_msg``     -> :class:`EventMsg`, kept open (``type`` plus any fields)
* anything else (``world_state``, ``token_usage_record`` ...) is kept verbatim.

Every model keeps unknown fields so a line written by a newer Codex survives a
read/write round trip. ``RolloutLine.payload`` holds the raw JSON value; typed
views are built on demand (readers of large files only build what they need).
"""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from threadline.protocol.items import (
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    OtherItem,
    ReasoningItem,
    ResponseItem,
    dump_response_item,
    parse_response_item,
)
from threadline.protocol.text import dumps_compact
from threadline.protocol.usage import TokenUsageInfo

__all__ = [
    "BaseInstructions",
    "CompactedItem",
    "CompactionWindow",
    "EventMsg",
    "GitInfo",
    "HistoryBase",
    "LineType",
    "RawRolloutItem",
    "RolloutItem",
    "RolloutLine",
    "SessionMeta",
    "TurnContextItem",
    "dump_line_json",
    "format_rollout_timestamp",
    "line_from_item",
    "source_kind",
    "token_info_of",
]

LineType = Literal["session_meta", "response_item", "compacted", "turn_context", "event_msg"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


def format_rollout_timestamp(when: datetime | None = None) -> str:
    """UTC time as Codex stamps rollout lines: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class GitInfo(_Open):
    """Repository state captured from the thread's cwd when the file is created."""

    commit_hash: str | None = None
    branch: str | None = None
    repository_url: str | None = None


class BaseInstructions(_Open):
    text: str = ""


class HistoryBase(_Open):
    """Where a paginated fork's inherited history lives: a prefix of the parent's file."""

    thread_id: str
    end_ordinal_exclusive: int | None = None
    end_byte_offset: int | None = None


class SessionMeta(_Open):
    """Payload of a ``session_meta`` line (Codex's ``SessionMetaLine``: meta + ``git``)."""

    id: str
    timestamp: str = ""
    cwd: str = ""
    originator: str = ""
    cli_version: str = ""
    source: Any = "vscode"
    model_provider: str | None = None
    base_instructions: BaseInstructions | None = None
    instructions: str | None = None
    forked_from_id: str | None = None
    agent_nickname: str | None = None
    agent_role: str | None = None
    agent_path: str | None = None
    dynamic_tools: list[Any] | None = None
    memory_mode: str | None = None
    history_mode: str | None = None
    history_base: HistoryBase | None = None
    git: GitInfo | None = None

    def dump(self) -> dict[str, Any]:
        """JSON payload; optional fields that are unset are omitted, as Codex does."""
        out = self.model_dump(mode="json", exclude_none=True)
        # Codex writes these two even when null.
        out.setdefault("model_provider", None)
        out.setdefault("base_instructions", None)
        return out


class TurnContextItem(_Open):
    """Payload of a ``turn_context`` line: the settings one turn ran with."""

    turn_id: str | None = None
    cwd: str = ""
    approval_policy: Any = None
    sandbox_policy: Any = None
    model: str = ""
    effort: Any = None
    summary: Any = None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class CompactionWindow(BaseModel):
    """Codex's numbering of a thread's context windows, as a ``compacted`` line records it:
    the thread's first window, the one the line opens, and how many came before it."""

    model_config = ConfigDict(frozen=True)

    first_window_id: str
    window_id: str
    window_number: int = 0

    @classmethod
    def of(cls, payload: Any) -> "CompactionWindow | None":
        """The window a ``compacted`` payload opened (``None`` when it names none)."""
        if not isinstance(payload, dict):
            return None
        window_id, first = payload.get("window_id"), payload.get("first_window_id")
        number = payload.get("window_number")
        if not isinstance(window_id, str) or not window_id:
            return None
        return cls(
            first_window_id=first if isinstance(first, str) and first else window_id,
            window_id=window_id,
            window_number=number if isinstance(number, int) and number >= 0 else 0,
        )


class CompactedItem(_Open):
    """Payload of a ``compacted`` line; ``replacement_history`` is absent in legacy files."""

    message: str = ""
    replacement_history: list[ResponseItem] | None = None

    def window(self) -> CompactionWindow | None:
        """The window this compaction opened (``None`` in files written without one)."""
        return CompactionWindow.of(self.model_extra or {})

    def dump(self) -> dict[str, Any]:
        out = self.model_dump(mode="json", exclude_none=True, exclude={"replacement_history"})
        if self.replacement_history is not None:
            out["replacement_history"] = [dump_response_item(i) for i in self.replacement_history]
        return out


class EventMsg(_Open):
    """An ``event_msg`` payload, kept open: ``type`` plus whatever fields it carries.

    Fields use Codex's snake_case names, e.g. ``EventMsg(type="user_message",
    message="hi", images=[])`` or ``EventMsg(type="task_started", turn_id="t1")``.
    """

    type: str

    def get(self, key: str, default: Any = None) -> Any:
        extra = self.model_extra or {}
        return extra.get(key, default)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RawRolloutItem(_Open):
    """A line type threadline does not interpret (``world_state`` ...), kept verbatim."""

    line_type: str
    payload: Any = None


RolloutItem = SessionMeta | ResponseItem | CompactedItem | TurnContextItem | EventMsg | RawRolloutItem

_RESPONSE_ITEM_CLASSES = (
    MessageItem,
    ReasoningItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    CustomToolCallItem,
    CustomToolCallOutputItem,
    OtherItem,
)


class RolloutLine(BaseModel):
    """One JSONL record. ``payload`` is the raw JSON value; use the ``as_*`` views."""

    model_config = ConfigDict(extra="allow")

    timestamp: str
    type: str
    payload: Any = None
    ordinal: int | None = None
    metadata: dict[str, Any] | None = None

    # typed views -----------------------------------------------------------
    @property
    def event_type(self) -> str | None:
        """``payload.type`` of an ``event_msg`` line, else ``None``."""
        if self.type == "event_msg" and isinstance(self.payload, dict):
            kind = self.payload.get("type")
            return kind if isinstance(kind, str) else None
        return None

    def as_session_meta(self) -> SessionMeta:
        return SessionMeta.model_validate(self.payload)

    def as_response_item(self) -> ResponseItem:
        return parse_response_item(self.payload)

    def as_compacted(self) -> CompactedItem:
        return CompactedItem.model_validate(self.payload)

    def as_turn_context(self) -> TurnContextItem:
        return TurnContextItem.model_validate(self.payload)

    def as_event(self) -> EventMsg:
        return EventMsg.model_validate(self.payload)

    def item(self) -> RolloutItem:
        """The typed item for this line (``RawRolloutItem`` for unknown types)."""
        if self.type == "session_meta":
            return self.as_session_meta()
        if self.type == "response_item":
            return self.as_response_item()
        if self.type == "compacted":
            return self.as_compacted()
        if self.type == "turn_context":
            return self.as_turn_context()
        if self.type == "event_msg":
            return self.as_event()
        return RawRolloutItem(line_type=self.type, payload=self.payload)

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"timestamp": self.timestamp}
        if self.ordinal is not None:
            out["ordinal"] = self.ordinal
        out["type"] = self.type
        out["payload"] = self.payload
        if self.metadata is not None:
            out["metadata"] = self.metadata
        for key, value in (self.model_extra or {}).items():
            out.setdefault(key, value)
        return out


def _item_type_and_payload(item: RolloutItem) -> tuple[str, Any]:
    if isinstance(item, SessionMeta):
        return "session_meta", item.dump()
    if isinstance(item, CompactedItem):
        return "compacted", item.dump()
    if isinstance(item, TurnContextItem):
        return "turn_context", item.dump()
    if isinstance(item, EventMsg):
        return "event_msg", item.dump()
    if isinstance(item, RawRolloutItem):
        return item.line_type, item.payload
    if isinstance(item, _RESPONSE_ITEM_CLASSES):
        return "response_item", dump_response_item(item)
    raise TypeError(f"not a rollout item: {type(item).__name__}")


def line_from_item(item: RolloutItem, timestamp: str | None = None) -> RolloutLine:
    """Wrap a typed item in a line stamped now (or with ``timestamp``)."""
    line_type, payload = _item_type_and_payload(item)
    return RolloutLine(
        timestamp=timestamp or format_rollout_timestamp(), type=line_type, payload=payload
    )


def dump_line_json(line: RolloutLine) -> str:
    """Compact JSON for one line, without the trailing newline; always encodable as
    UTF-8 (a lone surrogate, e.g. from a non-UTF-8 file name, is stored as U+FFFD)."""
    return dumps_compact(line.to_json_dict())


def source_kind(source: Any) -> str:
    """A session source reduced to one word: ``cli``, ``vscode``, ``exec``, ``subagent`` ..."""
    if isinstance(source, str):
        return source
    if isinstance(source, dict) and len(source) == 1:
        key = next(iter(source))
        return str(key)
    return "unknown"


def token_info_of(event: dict[str, Any]) -> TokenUsageInfo | None:
    """The ``info`` of a ``token_count`` payload, or ``None`` when absent or null."""
    info = event.get("info")
    if not isinstance(info, dict):
        return None
    return TokenUsageInfo.model_validate(info)
