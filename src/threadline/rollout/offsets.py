"""The offset index of a rollout: where each visible turn's lines are in the JSONL file.

``thread/turns/list`` and ``thread/items/list`` of a thread that is not loaded read a
page of turns without reading the rest of the file: :func:`scan` finds the turn
boundaries in one streaming pass, and :func:`render_turns` reads only the byte
ranges of the turns a page needs and rebuilds them with the same
:class:`~threadline.rollout.turns.TurnBuilder` a full read uses.

**The pass.** Each line's kind is taken from its first bytes (``{"timestamp":…,
["ordinal":…,] "type":…, "payload":{"type":…``); only the small lines that move a
boundary (``task_started``, ``task_complete``, ``turn_aborted``,
``thread_rolled_back``, tool and ``item_completed`` events that name a turn) are
decoded, and a line whose head does not have the expected shape is decoded whole,
so an unusual writer costs time, never correctness. The state machine mirrors the
turn builder's boundary rules (explicit and implicit turns, rollbacks, a
compaction-only implicit turn) and its running item counter, so a turn rendered
from its range has the ids a whole-file read gives it.

**Spans.** A turn's range runs from its first line to the start of the next turn
(or the next rollback, or the end of what was scanned): late lines of a finished
turn (its token count, a tool end that names it) stay in its range.

**Freshness.** The index remembers the file's inode, size, modification time, a
hash of its first 4 KiB and of the 64 bytes before the scanned end. When the file
only grew (same inode and head, same bytes before the old end) the pass continues
from where it stopped, with the saved state; anything else rebuilds it. Only
complete lines (ending in ``\\n``) are scanned, so a line being written is picked up
by the next extension.

**What the index does not cover.** A paginated Codex fork whose ``session_meta``
carries ``history_base`` inherits turns from another file: :attr:`OffsetIndex.
unsupported` says so and callers read such a thread whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from threadline.protocol.v2 import Turn, TurnError
from threadline.rollout.files import open_regular
from threadline.rollout.reader import parse_lines
from threadline.rollout.turn_items import codex_error_info_to_wire
from threadline.rollout.turns import TurnBuilder, affects_turn_status, int_or_none

__all__ = [
    "INDEX_VERSION",
    "OffsetIndex",
    "TurnSpan",
    "is_current",
    "model_cut",
    "render_turns",
    "scan",
    "scan_lines",
    "stub_turn",
]

INDEX_VERSION = 3
_HEAD_BYTES = 4096
_TAIL_BYTES = 64
_PEEK = 512
_SMALL_LINE = 256 << 10

_HEAD_RE = re.compile(
    rb'\{"timestamp":"[^"\\]*",(?:"ordinal":\d+,)?"type":"([a-z_]+)","payload":\{(?:"type":"([a-z_]+)")?'
)
_TURN_ID_RE = re.compile(rb'"turn_id":"([^"\\]*)"')
_ITEM_TYPE_RE = re.compile(rb'"item":\{"type":"([A-Za-z]+)"')

_OPEN = frozenset({"task_started", "turn_started"})
_CLOSE = frozenset({"task_complete", "turn_complete", "turn_aborted"})
_TOOL_ENDS = frozenset({"exec_command_end", "patch_apply_end", "mcp_tool_call_end"})
_COUNTED = frozenset({"context_compacted", "entered_review_mode", "exited_review_mode"})
_NEEDS_DECODE = _OPEN | _CLOSE | {"thread_rolled_back", "error"}


@dataclass(slots=True)
class TurnSpan:
    """One visible turn: its id and where its lines are."""

    id: str
    start: int
    """Byte offset of the turn's first line."""
    line: int
    """Index of that line among the file's readable lines (the builder's line index)."""
    counter: int
    """The builder's item counter before the turn (item ids continue from it)."""
    end: int = -1
    """Byte offset where the turn's range ends; -1 while it runs to the scanned end."""
    explicit: bool = True
    has_items: bool = False
    saw_compaction: bool = False
    last_item: str = ""
    status: str = "inProgress"
    """As the turn builder has it before ``finish`` (``inProgress`` for a turn that
    never ended)."""
    started_at: int | None = None
    completed_at: int | None = None
    duration_ms: int | None = None
    root_turn_id: str | None = None
    error: dict[str, Any] | None = None


@dataclass
class OffsetIndex:
    """Turn spans of one rollout file, and what is needed to extend them."""

    path: str
    inode: int = 0
    size: int = 0
    mtime_ns: int = 0
    head: str = ""
    tail: str = ""
    scanned_to: int = 0
    lines: int = 0
    turns: list[TurnSpan] = field(default_factory=list)
    open: TurnSpan | None = None
    counter: int = 0
    compacted: int | None = None
    """Byte offset of the newest ``compacted`` line, if any."""
    rolled_back: int | None = None
    """Byte offset of the newest ``thread_rolled_back`` event, if any."""
    last_started: int | None = None
    """Byte offset of the newest ``task_started`` event (rolled back or not), if any."""
    token_at: int | None = None
    """Byte offset of the newest ``token_count`` event whose ``info`` is not null."""
    token_turn: str | None = None
    """The turn open when that event was written (what restored usage belongs to)."""
    name_at: int | None = None
    """Byte offset of the newest ``thread_name_updated`` event."""
    context_at: int | None = None
    """Byte offset of the newest ``turn_context`` line."""
    unsupported: str | None = None
    version: int = INDEX_VERSION

    def visible(self) -> list[TurnSpan]:
        """The turns a full read would show, oldest first (the open one last)."""
        spans = list(self.turns)
        current = self.open
        if current is not None and (
            current.explicit or current.has_items or current.saw_compaction
        ):
            spans.append(current)
        return spans

    def range_of(self, span: TurnSpan) -> tuple[int, int]:
        return span.start, span.end if span.end >= 0 else self.scanned_to

    # -- serialisation --------------------------------------------------------------------
    def to_json(self) -> str:
        data = asdict(self)
        data["turns"] = [_span_row(s) for s in self.turns]
        data["open"] = _span_row(self.open) if self.open is not None else None
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OffsetIndex | None:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
                return None
            data["turns"] = [_span_of(row) for row in data["turns"]]
            data["open"] = _span_of(data["open"]) if data.get("open") is not None else None
            return cls(**data)
        except (ValueError, TypeError, KeyError):
            return None


def _span_row(span: TurnSpan) -> list[Any]:
    return [span.id, span.start, span.line, span.counter, span.end, span.explicit,
            span.has_items, span.saw_compaction, span.last_item, span.status,
            span.started_at, span.completed_at, span.duration_ms, span.root_turn_id, span.error]


def _span_of(row: list[Any]) -> TurnSpan:
    return TurnSpan(*row)


# -- the pass -----------------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class _Scanner:
    """The boundary state machine (see the module docstring); mutates ``index``."""

    def __init__(self, index: OffsetIndex) -> None:
        self.ix = index
        self.closed_ids = {s.id for s in index.turns}

    def _finish_open(self) -> None:
        span, self.ix.open = self.ix.open, None
        if span is None:
            return
        if not span.explicit and not span.has_items and not span.saw_compaction:
            return
        self.ix.turns.append(span)
        self.closed_ids.add(span.id)

    def _end_ranges(self, offset: int) -> None:
        for span in reversed(self.ix.turns):
            if span.end >= 0:
                break
            span.end = offset

    def _begin(self, span: TurnSpan) -> None:
        self._end_ranges(span.start)
        self.ix.open = span

    def _ensure(self, offset: int, line: int) -> TurnSpan:
        if self.ix.open is None:
            self._begin(TurnSpan(f"rollout-{line}", offset, line, self.ix.counter, explicit=False,
                                 status="completed"))
        assert self.ix.open is not None
        return self.ix.open

    def _item(self, offset: int, line: int, kind: str) -> None:
        span = self._ensure(offset, line)
        self.ix.counter += 1
        span.has_items = True
        span.last_item = kind

    def _find(self, turn_id: str | None) -> TurnSpan | None:
        """The builder's ``_find``: the open turn, else the newest closed one, by id."""
        if not turn_id:
            return None
        current = self.ix.open
        if current is not None and current.id == turn_id:
            return current
        if turn_id in self.closed_ids:
            for span in reversed(self.ix.turns):
                if span.id == turn_id:
                    return span
        return None

    def _targets_open(self, turn_id: str | None) -> bool:
        """Whether an event naming ``turn_id`` lands in the open turn (the builder's
        ``_find(turn_id) or open``)."""
        current = self.ix.open
        if turn_id and current is not None and current.id == turn_id:
            return True
        return not (turn_id and turn_id in self.closed_ids)

    def feed(self, raw: bytes, offset: int, line: int) -> bool:
        """One complete line; False when it is not a readable rollout line."""
        match = _HEAD_RE.match(raw, 0, _PEEK)
        payload: dict[str, Any] | None = None
        if match is None:
            obj = _decode(raw)
            if obj is None:
                return False
            kind = obj["type"]
            payload = obj["payload"] if isinstance(obj["payload"], dict) else None
            event = payload.get("type") if payload is not None and kind == "event_msg" else None
        else:
            kind = match.group(1).decode()
            event = match.group(2).decode() if match.group(2) else None
            if kind == "event_msg" and event is None:
                obj = _decode(raw)
                if obj is None:
                    return False
                payload = obj["payload"] if isinstance(obj["payload"], dict) else None
                event = payload.get("type") if payload is not None else None
        if kind == "session_meta" and self.ix.lines == 0 and b'"history_base"' in raw:
            meta = payload if payload is not None else (_decode(raw) or {}).get("payload")
            if isinstance(meta, dict) and meta.get("history_base"):
                self.ix.unsupported = "a fork whose history is in its parent's rollout"
        if kind == "turn_context":
            self.ix.context_at = offset
        if kind == "compacted":
            self.ix.compacted = offset
            if self.ix.open is not None:
                self.ix.open.saw_compaction = True
            return True
        if kind != "event_msg" or not isinstance(event, str):
            return True
        if payload is None and (event in _NEEDS_DECODE or event in _TOOL_ENDS):
            if len(raw) <= _SMALL_LINE:
                obj = _decode(raw)
                if obj is None:
                    return False  # torn or garbage: a full read skips it too
                payload = obj["payload"] if isinstance(obj["payload"], dict) else {}
        self._event(event, raw, payload, offset, line)
        return True

    def _fields(self, raw: bytes, payload: dict[str, Any] | None) -> dict[str, Any]:
        if payload is not None:
            return payload
        if len(raw) <= _SMALL_LINE:
            obj = _decode(raw)
            if obj is not None and isinstance(obj["payload"], dict):
                return obj["payload"]
        found = _TURN_ID_RE.search(raw)
        return {"turn_id": found.group(1).decode()} if found else {}

    def _event(
        self, event: str, raw: bytes, payload: dict[str, Any] | None, offset: int, line: int
    ) -> None:
        ix = self.ix
        if event in _NEEDS_DECODE or event in _TOOL_ENDS:
            fields = self._fields(raw, payload)
        else:
            fields = payload or {}
        if event in _OPEN:
            ix.last_started = offset
            self._finish_open()
            tid = fields.get("turn_id")
            tid = tid if isinstance(tid, str) and tid else f"rollout-{line}"
            root = fields.get("root_turn_id")
            self._begin(TurnSpan(tid, offset, line, ix.counter, explicit=True,
                                 started_at=int_or_none(fields.get("started_at")),
                                 root_turn_id=root if isinstance(root, str) else None))
        elif event in _CLOSE:
            tid = fields.get("turn_id")
            target = self._find(tid if isinstance(tid, str) else None) or ix.open
            if target is None:
                return
            if event == "turn_aborted":
                target.status = "interrupted"
            elif target.status in ("completed", "inProgress"):
                target.status = "completed"
            target.completed_at = int_or_none(fields.get("completed_at")) or target.completed_at
            target.duration_ms = int_or_none(fields.get("duration_ms")) or target.duration_ms
            if target is ix.open:
                self._finish_open()
        elif event == "error":
            info = fields.get("codex_error_info")
            if ix.open is not None and affects_turn_status(info):
                ix.open.status = "failed"
                ix.open.error = {"message": str(fields.get("message", "")),
                                 "codexErrorInfo": codex_error_info_to_wire(info)}
        elif event == "token_count":
            if b'"info":null' not in raw[:_PEEK]:
                ix.token_at = offset
                ix.token_turn = ix.open.id if ix.open is not None else None
        elif event == "thread_name_updated":
            ix.name_at = offset
        elif event == "user_message":
            current = ix.open
            if current is not None and not current.explicit:
                if current.has_items or not current.saw_compaction:
                    self._finish_open()
            self._item(offset, line, "userMessage")
        elif event == "agent_message":
            if payload is not None:
                message = payload.get("message")
                empty = not (isinstance(message, str) and message)
            else:
                head = raw[:_PEEK]
                if b',"message":""' in head:
                    empty = True
                elif b',"message":"' in head:
                    empty = False
                else:
                    obj = _decode(raw) or {}
                    message = (obj.get("payload") or {}).get("message")
                    empty = not (isinstance(message, str) and message)
            if not empty:
                self._item(offset, line, "agentMessage")
        elif event in ("agent_reasoning", "agent_reasoning_raw_content"):
            span = self._ensure(offset, line)
            if span.last_item != "reasoning":
                ix.counter += 1
            span.has_items = True
            span.last_item = "reasoning"
        elif event in _COUNTED:
            self._item(offset, line, event)
        elif event in _TOOL_ENDS:
            tid = fields.get("turn_id")
            if self._targets_open(tid if isinstance(tid, str) else None):
                span = self._ensure(offset, line)
                span.has_items = True
                span.last_item = event
        elif event == "item_completed":
            head = raw[:_PEEK]
            found = _TURN_ID_RE.search(head)
            tid = found.group(1).decode() if found else None
            if payload is not None:
                tid = payload.get("turn_id") if isinstance(payload.get("turn_id"), str) else tid
            if self._targets_open(tid):
                span = self._ensure(offset, line)
                kind = _ITEM_TYPE_RE.search(raw, 0, 4096)
                span.has_items = True
                span.last_item = "reasoning" if kind and kind.group(1) == b"Reasoning" else event
        elif event == "thread_rolled_back":
            ix.rolled_back = offset
            self._finish_open()
            self._end_ranges(offset)
            count = fields.get("num_turns")
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                dropped = ix.turns[max(0, len(ix.turns) - count) :]
                del ix.turns[max(0, len(ix.turns) - count) :]
                for span in dropped:
                    self.closed_ids.discard(span.id)
            ix.counter = 0


def _decode(raw: bytes) -> dict[str, Any] | None:
    """A readable rollout line's object (what ``parse_lines`` keeps), else None."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return None
    if not isinstance(obj.get("timestamp"), str) or "payload" not in obj:
        return None
    return obj


def scan(path: Path, previous: OffsetIndex | None = None) -> OffsetIndex:
    """The index of ``path``, extending ``previous`` when the file only grew."""
    with open_regular(path) as handle:
        info = os.fstat(handle.fileno())
        head = _digest(handle.read(_HEAD_BYTES))
        index = previous if previous is not None and _extends(previous, handle, info, head) else None
        if index is None:
            index = OffsetIndex(path=str(path), inode=info.st_ino, head=head)
        scanner = _Scanner(index)
        handle.seek(index.scanned_to)
        offset = index.scanned_to
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # a line still being written: the next extension reads it
            if raw.strip() and scanner.feed(raw.rstrip(b"\r\n"), offset, index.lines):
                index.lines += 1
            offset += len(raw)
        index.scanned_to = offset
        handle.seek(max(0, offset - _TAIL_BYTES))
        index.tail = _digest(handle.read(min(offset, _TAIL_BYTES)))
        index.size = info.st_size
        index.mtime_ns = info.st_mtime_ns
        index.inode = info.st_ino
        index.head = head
    return index


def scan_lines(lines: Iterable[tuple[int, bytes]], previous: OffsetIndex | None = None) -> OffsetIndex:
    """The index of a history that is not a file (a database's numbered lines, each
    ``(number, json)``): a line's number stands for its offset, so a span's range is a
    range of line numbers. ``previous`` (over the lines before these) is extended."""
    index = previous if previous is not None else OffsetIndex(path="")
    scanner = _Scanner(index)
    for number, raw in lines:
        if raw.strip() and scanner.feed(raw.strip(), number, index.lines):
            index.lines += 1
        index.scanned_to = number + 1
    return index


def _extends(previous: OffsetIndex, handle: Any, info: os.stat_result, head: str) -> bool:
    if previous.version != INDEX_VERSION or previous.inode != info.st_ino:
        return False
    if info.st_size < previous.scanned_to or head != previous.head:
        return False
    if previous.scanned_to < _HEAD_BYTES and info.st_size != previous.size:
        return False  # the head hash covered bytes that were not complete lines yet
    handle.seek(max(0, previous.scanned_to - _TAIL_BYTES))
    tail = _digest(handle.read(min(previous.scanned_to, _TAIL_BYTES)))
    return tail == previous.tail


def is_current(index: OffsetIndex, path: Path) -> bool:
    """Whether ``index`` still describes ``path`` exactly (inode, size, mtime)."""
    try:
        info = path.stat()
    except OSError:
        return False
    return (info.st_ino, info.st_size, info.st_mtime_ns) == (
        index.inode,
        index.size,
        index.mtime_ns,
    )


# -- resume from the newest compaction ----------------------------------------------------------


def model_cut(index: OffsetIndex) -> int | None:
    """Where a resume may stop decoding model items: the byte offset before which no
    ``response_item`` matters, or ``None`` when every line does.

    Past the newest ``compacted`` line that carries a ``replacement_history`` the model
    history starts afresh, so the items before it only matter when a later rollback can
    reach back past it (any ``thread_rolled_back`` after it), when it is a legacy
    compaction (no replacement: earlier user messages are kept), or for the last
    turn's cut-off tool calls (the cut is never after the newest ``task_started``).
    """
    if index.unsupported is not None or index.compacted is None:
        return None
    if index.rolled_back is not None and index.rolled_back > index.compacted:
        return None
    with open_regular(Path(index.path)) as handle:
        handle.seek(index.compacted)
        head = handle.read(_PEEK)
    if b'"replacement_history":[' not in head and b'"replacement_history": [' not in head:
        obj = None
        with open_regular(Path(index.path)) as handle:
            handle.seek(index.compacted)
            obj = _decode(handle.readline())
        payload = obj.get("payload") if obj is not None else None
        if not isinstance(payload, dict) or not isinstance(payload.get("replacement_history"), list):
            return None
    cut = index.compacted
    if index.last_started is not None:
        cut = min(cut, index.last_started)
    return cut


# -- rendering --------------------------------------------------------------------------------


def stub_turn(span: TurnSpan, *, live: bool = False) -> Turn:
    """The turn of ``span`` without its items (``itemsView: "notLoaded"``): id, status,
    error and times as a full read gives them, nothing read from the file."""
    status = span.status
    if status == "inProgress" and not live:
        status = "interrupted"
    return Turn(
        id=span.id,
        items=[],
        status=status,  # type: ignore[arg-type]
        error=TurnError.model_validate(span.error) if span.error else None,
        started_at=span.started_at,
        completed_at=span.completed_at,
        duration_ms=span.duration_ms,
        items_view="notLoaded",
        root_turn_id=span.root_turn_id or (span.id if span.explicit else None),
    )


def render_turns(index: OffsetIndex, spans: list[TurnSpan], *, live: bool = False) -> list[Turn]:
    """The turns of ``spans`` (in the order given), each rebuilt from its own byte range."""
    out: list[Turn] = []
    path = Path(index.path)
    with open_regular(path) as handle:
        for span in spans:
            start, end = index.range_of(span)
            handle.seek(start)
            data = handle.read(max(0, end - start))
            lines, _ = parse_lines(data, source=index.path)
            builder = TurnBuilder(item_counter=span.counter)
            for number, line in enumerate(lines):
                builder.feed(span.line + number, line)
            built = builder.finish(live=live)
            match = next((t for t in built if t.id == span.id), built[0] if built else None)
            if match is not None:
                out.append(match)
    return out
