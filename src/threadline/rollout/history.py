"""Rebuilding a thread from its rollout: model history, v2 turns, token usage.

:func:`reconstruct` is the single entry point used by resume, fork and read.

**Model-visible history.** ``response_item`` lines are replayed in order. A
``compacted`` line with ``replacement_history`` replaces everything so far; a
legacy one (no replacement) keeps the real user messages and adds the summary
as a user message. ``thread_rolled_back{num_turns}`` restores the history as it
was before the newest ``num_turns`` user turns — which also undoes any
compaction that happened inside them. Turns are delimited by ``task_started``;
files without it start a turn at each real user message.

**Token usage.** The snapshot is the newest ``token_count`` whose ``info`` is
not null. It is attributed to the turn that was open when that line was
written (by id, else by position when no rollback intervened), else to the
newest completed or failed turn, else to the last turn. A restored
``last_token_usage.total_tokens`` above the context window is clamped.

**Context windows.** The window numbering a thread continues with is that of its newest
``compacted`` line (``window_number``, ``window_id``, ``first_window_id``), else the first
window a Codex ``session_meta`` names (``context_window.window_id``, number 0).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from threadline.protocol.asks import CutOffTurn
from threadline.protocol.items import (
    DeferredItems,
    MessageItem,
    ResponseItem,
    parse_response_item,
    user_text_message,
    validates_as_item,
)
from threadline.protocol.rollout import CompactionWindow, RolloutLine, SessionMeta
from threadline.protocol.usage import TokenUsageInfo
from threadline.protocol.v2 import Turn
from threadline.rollout.gc_pause import free_after_pause, gc_paused
from threadline.rollout.lines import line_of
from threadline.rollout.pending import find_cut_off
from threadline.rollout.reader import (
    RolloutFile,
    RolloutFormat,
    event_user_text,
    parse_records,
    strip_preview,
    user_message_text,
)
from threadline.rollout.shared_text import share_payload_text, share_text
from threadline.rollout.turns import TurnBuilder

__all__ = [
    "HistoryReplay",
    "LinePass",
    "Reconstruction",
    "deferred_history",
    "history_start",
    "is_contextual_user_message",
    "latest_token_info",
    "latest_window",
    "model_history",
    "reconstruct",
    "reconstruct_records",
    "sanitize_token_info",
]

log = logging.getLogger(__name__)

_CONTEXT_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "# AGENTS.md instructions",
    "<turn_aborted>",
    "<user_shell_command>",
    "<subagent_notification>",
    "<skill>",
)
_LEGACY_COMPACTION_USER_BUDGET = 80_000  # characters of earlier user messages kept


def is_contextual_user_message(item: ResponseItem) -> bool:
    """A user-role message injected by the harness (environment, instructions, markers)."""
    if not isinstance(item, MessageItem) or item.role != "user":
        return False
    text = item.text().lstrip()
    return text.startswith(_CONTEXT_PREFIXES)


def _is_real_user_message(item: ResponseItem) -> bool:
    return (
        isinstance(item, MessageItem) and item.role == "user" and not is_contextual_user_message(item)
    )


_Entry = Any
"""One entry of a replayed history: a built item, or a ``response_item`` payload that
``validates_as_item`` vouched for (built when the history is first read)."""


def _user_text(entry: _Entry) -> str | None:
    """The text of a real user message entry, else ``None`` (as :func:`_is_real_user_message`
    and ``MessageItem.text`` tell, for a payload not built yet too)."""
    if type(entry) is not dict:
        return entry.text() if _is_real_user_message(entry) else None  # type: ignore[no-any-return]
    if entry.get("type") != "message" or entry.get("role") != "user":
        return None
    text = "".join(part.get("text") or "" for part in entry["content"])
    return None if text.lstrip().startswith(_CONTEXT_PREFIXES) else text


@dataclass
class _Unit:
    """One turn of model history: where it started (a list prefix) and whether it has user input."""

    base: list[_Entry]
    base_len: int
    has_user: bool = False


def _legacy_compacted(history: list[_Entry], summary: str) -> list[_Entry]:
    kept: list[_Entry] = []
    budget = _LEGACY_COMPACTION_USER_BUDGET
    for item in reversed(history):
        text = _user_text(item)
        if text is None:
            continue
        size = len(text)
        if size > budget:
            break
        budget -= size
        kept.append(item)
    kept.reverse()
    kept.append(user_text_message(summary))
    return kept


def _drop_last_user_turns(history: list[_Entry], count: int) -> list[_Entry]:
    """Fallback when no turn boundaries are known: cut before the n-th newest user message."""
    seen = 0
    for index in range(len(history) - 1, -1, -1):
        if _user_text(history[index]) is not None:
            seen += 1
            if seen == count:
                return history[:index]
    return [] if seen else history


def history_start(lines: list[RolloutLine]) -> int:
    """Where replaying the model history may start: the newest ``compacted`` line with a
    valid ``replacement_history`` when no rollback follows it (the replacement is then
    the whole history at that point, and nothing can reach back past it), else 0."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line.type == "compacted":
            payload = line.payload
            if not isinstance(payload, dict) or not isinstance(payload.get("replacement_history"), list):
                return 0
            try:
                line.as_compacted()
            except ValueError:
                continue  # the replay skips it too; an older compaction may still do
            return index
        if line.type == "event_msg" and _event_kind(line) == "thread_rolled_back":
            return 0
    return 0


def _event_kind(line: RolloutLine) -> object:
    """``payload.type`` of an ``event_msg`` line (``RolloutLine.event_type`` without the
    property's checks, for loops over every line; the caller checked ``line.type``)."""
    payload = line.payload
    return payload.get("type") if isinstance(payload, dict) else None


def model_history(lines: list[RolloutLine]) -> list[ResponseItem]:
    """The model-visible history after replaying compactions and rollbacks, from
    :func:`history_start` on: the items an intact newest compaction replaced are never
    validated."""
    return deferred_history(lines).build()


def deferred_history(lines: list[RolloutLine]) -> DeferredItems:
    """:func:`model_history`, replayed now and built when first read: the payloads
    ``validates_as_item`` vouches for wait as they were decoded (what a resume holds
    until its first model request); the others are validated now, and those that fail
    are skipped, as the replay always did."""
    replay = HistoryReplay()
    for line in lines[history_start(lines) :]:
        kind = line.type
        if kind == "response_item":
            replay.item(line)
        elif kind == "event_msg":
            replay.event(line, _event_kind(line))
        elif kind == "compacted":
            replay.compacted(line)
    return DeferredItems(replay.history)


class HistoryReplay:
    """The model history replayed one line at a time (``response_item``, ``event_msg``
    and ``compacted`` lines, in order). Replaying a whole file gives what replaying it
    from :func:`history_start` gives: an intact compaction with no rollback after it
    replaces everything before it, and no later line reaches back past it; only its
    cost differs (the items it replaced are kept unbuilt until then, never validated)."""

    __slots__ = ("explicit", "history", "units")
    EVENTS: ClassVar[tuple[str, ...]] = ("task_started", "turn_started", "thread_rolled_back")
    """The only events :meth:`event_payload` acts on (a tuple: ``in`` compares, never hashes)."""

    def __init__(self) -> None:
        self.history: list[_Entry] = []
        self.units: list[_Unit] = []
        self.explicit = False

    def item(self, line: RolloutLine) -> None:
        self.payload(line.payload)

    def payload(self, item: _Entry) -> None:
        """A ``response_item`` line's payload (what :meth:`item` replays of its line)."""
        if validates_as_item(item):
            user = item.get("role") == "user" and _user_text(item) is not None
        else:
            try:
                item = parse_response_item(item)
            except ValueError:
                log.warning("skipping response_item that does not validate")
                return
            user = _is_real_user_message(item)
        history = self.history
        if user:
            units = self.units
            if self.explicit and units:
                units[-1].has_user = True
            else:
                units.append(_Unit(history, len(history), has_user=True))
        history.append(item)

    def event(self, line: RolloutLine, event: object) -> None:
        """An ``event_msg`` line whose ``payload.type`` is ``event``."""
        self.event_payload(line.payload, event)

    def event_payload(self, payload: Any, event: object) -> None:
        """:meth:`event` of the line's payload (a dict when ``event`` is not None)."""
        if event == "task_started" or event == "turn_started":
            self.explicit = True
            self.units.append(_Unit(self.history, len(self.history)))
        elif event == "thread_rolled_back":
            count = payload.get("num_turns")
            if isinstance(count, int) and count > 0:
                self.history = _roll_back(self.history, self.units, count)

    def compacted(self, line: RolloutLine) -> None:
        try:
            compacted = line.as_compacted()
        except ValueError:
            log.warning("skipping compacted line that does not validate")
            return
        if compacted.replacement_history is not None:
            self.history = list(compacted.replacement_history)
        else:
            self.history = _legacy_compacted(self.history, compacted.message)


def _roll_back(history: list[_Entry], units: list[_Unit], count: int) -> list[_Entry]:
    # Lists are only ever appended to, so (list, length) pairs stay valid snapshots.
    if not units:
        return _drop_last_user_turns(history, count)
    remaining = count
    cut: _Unit | None = None
    while units and remaining > 0:
        cut = units.pop()
        if cut.has_user:
            remaining -= 1
    assert cut is not None
    return cut.base[: cut.base_len]


def latest_token_info(lines: list[RolloutLine]) -> tuple[int, TokenUsageInfo] | None:
    """Index and info of the newest ``token_count`` whose ``info`` is not null."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line.type != "event_msg" or _event_kind(line) != "token_count":
            continue
        info = line.payload.get("info")
        if not isinstance(info, dict):
            continue
        try:
            return index, TokenUsageInfo.model_validate(info)
        except ValueError:
            log.warning("skipping token_count with an unreadable info block")
    return None


def latest_window(
    lines: list[RolloutLine], meta: SessionMeta | None, compacted_at: list[int] | None = None
) -> CompactionWindow | None:
    """The context window the thread is in: that of its newest ``compacted`` line that
    names one, else the first window of ``meta``; ``None`` when neither says. With
    ``compacted_at`` (the indexes of every ``compacted`` line, oldest first) only those
    lines are looked at."""
    at = range(len(lines) - 1, -1, -1) if compacted_at is None else reversed(compacted_at)
    for index in at:
        line = lines[index]
        if line.type != "compacted":
            continue
        window = CompactionWindow.of(line.payload)  # without parsing its history
        if window is not None:
            return window
    raw = (meta.model_extra or {}).get("context_window") if meta is not None else None
    first = raw.get("window_id") if isinstance(raw, dict) else None
    if isinstance(first, str) and first:
        return CompactionWindow(first_window_id=first, window_id=first, window_number=0)
    return None


def sanitize_token_info(info: TokenUsageInfo) -> TokenUsageInfo:
    """Clamp an impossible ``last.total_tokens`` (above the context window) to the window."""
    window = info.model_context_window
    last = info.last_token_usage
    if window is not None and window > 0 and last.total_tokens > window:
        log.warning(
            "restored last token usage %d exceeds the context window %d; clamping",
            last.total_tokens,
            window,
        )
        clamped = last.model_copy(update={"total_tokens": window})
        return info.model_copy(update={"last_token_usage": clamped})
    return info


@dataclass
class Reconstruction:
    """Everything resume/fork/read need from a rollout."""

    meta: SessionMeta | None
    _history: list[ResponseItem] | DeferredItems | None
    """The model history (:attr:`history`): None until it is first read when built lazily;
    replayed but not built yet (:func:`deferred_history`) for a resume."""
    turns: list[Turn]
    token_info: TokenUsageInfo | None
    usage_turn_id: str | None
    preview: str
    name: str | None
    model: str | None = None
    format: RolloutFormat = "legacy"
    parse_errors: int = 0
    open_turn_id: str | None = None
    """The last turn when the rollout ends inside it (no completion or abort marker):
    a running thread's turn, or one torn by a crash. Shown ``interrupted`` unless ``live``."""
    cut_off: CutOffTurn | None = None
    """That last turn, when it was torn while a tool call waited on the client's answer:
    what a resume continues (``rollout.pending``)."""
    window: CompactionWindow | None = None
    """The context window a resumed thread continues from (:func:`latest_window`)."""
    stubbed_turns: int = 0
    """How many leading turns came back without their items (``itemsView:
    "notLoaded"``): a resume that returns no turns reads none of their items; the
    store serves them when asked (``ThreadStore.read_turns``)."""
    extra: dict[str, Any] = field(default_factory=dict)
    _history_from: list[RolloutLine] | None = field(default=None, repr=False, compare=False)
    """The lines a lazy :attr:`history` is built from, until it is."""

    @property
    def history(self) -> list[ResponseItem]:
        """The model-visible history (:func:`model_history`). A reconstruction made with
        ``lazy_history`` builds it on first read: a ``thread/read`` never needs it."""
        history = self._history
        if history is None:
            history = self._history = model_history(self._history_from or [])
            self._history_from = None
        elif isinstance(history, DeferredItems):
            history = self._history = history.build()
        return history

    @history.setter
    def history(self, value: list[ResponseItem]) -> None:
        self._history = value
        self._history_from = None

    @property
    def history_items(self) -> Sequence[ResponseItem]:
        """:attr:`history`, replayed but not built yet unless it already is: what a resumed
        or forked thread starts with (its first model request builds it)."""
        history = self._history
        if history is None:
            history = self._history = deferred_history(self._history_from or [])
            self._history_from = None
        return history

    @property
    def thread_id(self) -> str | None:
        return self.meta.id if self.meta is not None else None


def _attribute(builder: TurnBuilder, turns: list[Turn], token_index: int | None) -> str | None:
    if token_index is not None:
        mark = builder.marks.get(token_index)
        if mark is not None:
            if any(turn.id == mark.turn_id for turn in turns):
                return mark.turn_id
            if mark.rollbacks_before == builder.rollbacks and mark.position < len(turns):
                return turns[mark.position].id
    for turn in reversed(turns):
        if turn.status in ("completed", "failed"):
            return turn.id
    return turns[-1].id if turns else None


class LinePass:
    """One in-order pass over a rollout's lines (:meth:`feed`, index by index) that
    builds the turns, replays the model history (unless ``lazy_history``) and keeps what
    :meth:`finish` needs of the rest (preview, name, model, ``compacted`` lines):
    :func:`reconstruct` over a list of lines, or a resume's reader over lines it lets go
    of as it reads them (``rollout.resume_stream``)."""

    __slots__ = ("builder", "compacted", "last_text", "model", "name", "own_start",
                 "preview", "replay")

    def __init__(self, *, own_start: int = 0, lazy_history: bool = False) -> None:
        self.builder = TurnBuilder()
        self.own_start = own_start
        self.preview: str | None = None
        self.model: str | None = None
        self.name: str | None = None
        self.last_text: str | None = None
        # The model history is replayed in this same pass, from the first line (see HistoryReplay).
        self.replay = None if lazy_history else HistoryReplay()
        self.compacted: list[RolloutLine] = []

    def feed(self, index: int, line: RolloutLine, mark: bool) -> None:
        """Line ``index``; with ``mark`` the turn open at it is remembered (the line of
        the usage snapshot)."""
        kind = line.type
        replay = self.replay
        if kind == "response_item":
            self.last_text = share_text(line, self.last_text)
            self.builder.feed(index, line, mark=mark)
            if replay is not None:
                replay.item(line)
            return
        if kind == "event_msg":
            self.last_text = share_text(line, self.last_text)
            self.builder.feed(index, line, mark=mark)
            event = _event_kind(line)
            if replay is not None:
                replay.event(line, event)
            if self.preview is None:
                text = user_message_text(line)
                if text is not None:
                    self.preview = strip_preview(text)
            if event == "thread_name_updated" and index >= self.own_start:
                value = line.payload.get("thread_name")
                self.name = value if isinstance(value, str) and value else None
            return
        self.builder.feed(index, line, mark=mark)
        if kind == "turn_context" and isinstance(line.payload, dict):
            value = line.payload.get("model")
            if isinstance(value, str) and value:
                self.model = value
        elif kind == "compacted":
            self.compacted.append(line)
            if replay is not None:
                replay.compacted(line)

    def feed_record(self, index: int, kind: str, payload: Any, obj: dict[str, Any],
                    mark: bool) -> None:
        """:meth:`feed` of a record not made a line: ``obj`` is the decoded record (one
        :func:`~threadline.rollout.lines.make_line` accepts), ``kind`` and ``payload`` its
        type and payload. A line is built only where one is kept (a ``compacted`` line,
        the usage snapshot's ``mark``); the turn builder is not called for the line types
        it ignores (``response_item``, ``turn_context``)."""
        if kind == "response_item":
            self.feed_item(payload)
            return
        if kind == "event_msg":
            event = payload.get("type") if isinstance(payload, dict) else None
            self.feed_event(index, payload, event, mark)
            return
        if kind == "turn_context":
            if isinstance(payload, dict):
                value = payload.get("model")
                if isinstance(value, str) and value:
                    self.model = value
            return
        if kind == "compacted":
            line = line_of(obj)
            self.builder.feed(index, line, mark=mark)
            self.compacted.append(line)
            if self.replay is not None:
                self.replay.compacted(line)
            return
        self.builder.feed_record(index, kind, payload)

    def feed_item(self, payload: Any) -> None:
        """:meth:`feed_record` of a ``response_item`` record's payload (for a caller that
        told the kinds apart already, as :meth:`feed_event`)."""
        self.last_text = share_payload_text("response_item", payload, self.last_text)
        replay = self.replay
        if replay is not None:
            replay.payload(payload)

    def feed_event(self, index: int, payload: Any, event: Any, mark: bool) -> None:
        """:meth:`feed_record` of an ``event_msg`` record whose ``payload.type`` is ``event``."""
        if event == "agent_message" or event == "user_message":  # the shared ones
            self.last_text = share_payload_text("event_msg", payload, self.last_text)
        self.builder.feed_record(index, "event_msg", payload, mark)
        replay = self.replay
        if replay is not None and event in replay.EVENTS:
            replay.event_payload(payload, event)
        if self.preview is None:
            text = event_user_text(event if isinstance(event, str) else None, payload)
            if text is not None:
                self.preview = strip_preview(text)
        if event == "thread_name_updated" and index >= self.own_start:
            value = payload.get("thread_name")
            self.name = value if isinstance(value, str) and value else None

    def finish(
        self, rollout: RolloutFile, *, live: bool, latest: tuple[int, TokenUsageInfo] | None,
        cut_off: CutOffTurn | None, history_from: list[RolloutLine] | None = None,
    ) -> Reconstruction:
        """The reconstruction, once every line is fed: ``latest`` is the usage snapshot
        (:func:`latest_token_info`: its line was fed with ``mark``), ``cut_off`` the last
        turn's (:func:`find_cut_off`)."""
        builder = self.builder
        turns = builder.finish(live=live)
        token_info = sanitize_token_info(latest[1]) if latest else None
        token_index = latest[0] if latest else None
        replay = self.replay
        return Reconstruction(
            meta=rollout.meta,
            _history=DeferredItems(replay.history) if replay is not None else None,
            turns=turns,
            token_info=token_info,
            usage_turn_id=_attribute(builder, turns, token_index) if token_info else None,
            preview=self.preview or "",
            name=self.name,
            model=self.model,
            format=rollout.format,
            parse_errors=rollout.parse_errors,
            open_turn_id=builder.open_turn_id if turns and builder.open_turn_id == turns[-1].id
            else None,
            cut_off=cut_off,
            window=latest_window(self.compacted, rollout.meta),
            _history_from=history_from,
        )


def reconstruct(
    rollout: RolloutFile, *, live: bool = False, lazy_history: bool = False,
    release_lines: bool = False,
) -> Reconstruction:
    """Rebuild history, turns and the usage snapshot from a read rollout.

    ``live=False`` (a thread that is not running) shows an unfinished last turn
    as ``interrupted``. With ``lazy_history`` the model history is built when first read
    (from a copy of the list of lines), not now: for a load that may never need it.
    With ``release_lines`` (a resume, which keeps no lines) ``rollout.lines`` is emptied
    once every line is replayed, before the turns are built: what the turns and the
    history do not hold of them is freed then, not after (the peak of the load).
    """
    lines = rollout.lines
    latest = latest_token_info(lines)
    token_index = latest[0] if latest else None
    step = LinePass(own_start=rollout.own_start, lazy_history=lazy_history)
    feed = step.feed
    for index, line in enumerate(lines):
        feed(index, line, index == token_index)
    cut_off = find_cut_off(lines)
    history_from = list(lines) if lazy_history else None
    if release_lines:
        lines.clear()
    free_after_pause(step)  # its turn builder's tables: freed once the answer is out
    return step.finish(rollout, live=live, latest=latest, cut_off=cut_off,
                       history_from=history_from)


def reconstruct_records(
    records: Iterable[str | bytes], path: Path, *, source: str, live: bool = False,
    lazy_history: bool = False,
) -> tuple[RolloutFile, Reconstruction | None]:
    """A database's rows of records (one rollout line each) decoded
    (:func:`~threadline.rollout.reader.parse_records`, never joined into one text) and
    rebuilt, with the cyclic collector paused (``gc_paused``) as a file's load is: call it
    in a worker thread. The file's meta is its first ``session_meta`` line's; without
    one there is no reconstruction (None)."""
    with gc_paused():
        lines, _ = parse_records(records, source=source)
        meta = next((line.as_session_meta() for line in lines if line.type == "session_meta"),
                    None)
        rollout = RolloutFile(path=path, meta=meta, lines=lines)
        if meta is None:
            return rollout, None
        return rollout, reconstruct(rollout, live=live, lazy_history=lazy_history)
