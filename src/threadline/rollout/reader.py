"""Tolerant rollout reading: whole files, paginated fork chains, and cheap heads/tails.

Every line is decoded as ``json.loads`` would (:func:`decode_json`, faster), one at a
time; typed pydantic views are only built later, for the lines a caller needs. Lines
that are not JSON objects with a string ``type`` (garbage, a torn last line after a crash) are skipped, counted
in ``parse_errors`` and logged.

Paginated (Codex 0.169) forks hold no history of their own: their
``session_meta.history_base`` names the parent thread and the byte offset and
ordinal where the inherited prefix ends. :func:`read_rollout` follows that
chain (recursively) and returns the parent prefix followed by the fork's own
lines, so the rest of threadline sees one continuous history.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from threadline.protocol.rollout import HistoryBase, RolloutItem, RolloutLine, SessionMeta
from threadline.protocol.usage import TokenUsageInfo
from threadline.rollout.errors import RolloutReadError
from threadline.rollout.files import open_regular, rollout_file_problem
from threadline.rollout.lines import build_line, decode_json, decode_line, make_line
from threadline.rollout.paths import find_rollout_path, home_of

__all__ = [
    "HeadSummary",
    "Locator",
    "RolloutFile",
    "RolloutFormat",
    "decode_json",
    "event_user_text",
    "open_for_lines",
    "parse_lines",
    "parse_records",
    "read_head",
    "SKIPPED_EVENT",
    "SKIPPED_RESPONSE",
    "read_rollout",
    "read_rollout_from_cut",
    "read_tail_token_info",
    "strip_preview",
    "user_message_text",
]

log = logging.getLogger(__name__)

RolloutFormat = Literal["legacy", "paginated"]
Locator = Callable[[str], Path | None]
"""Maps a thread id to its rollout path (``None`` when unknown)."""

_MAX_FORK_DEPTH = 64
_PREVIEW_MARKER = "## My request for Codex:"


_READ_BUFFER = 1 << 20
"""Bytes read at once by :func:`open_for_lines`: a file's default buffer is its block
size (4 KiB), two reads per 8 KiB of a 46 MB rollout, and each read lets go of the GIL,
which the worker reading then waits to get back whenever the loop is busy."""


def open_for_lines(path: Path) -> BinaryIO:
    """:func:`~threadline.rollout.files.open_regular` with a 1 MiB buffer, for reading a
    whole file line by line (not for a head: that reads only a few KiB)."""
    handle = open_regular(path)
    assert isinstance(handle, io.BufferedReader)
    return io.BufferedReader(handle.detach(), buffer_size=_READ_BUFFER)


def _iter_lines(handle: BinaryIO, limit: int | None) -> Iterator[tuple[int, bytes, bool]]:
    """``(line number from 0, line, whether it ends the data without a newline)`` of
    each non-blank line of ``handle``, read one at a time (at most ``limit`` bytes)."""
    if limit is None:
        for number, raw in enumerate(handle):
            if raw.strip():
                yield number, raw, not raw.endswith(b"\n")
        return
    offset = number = 0
    while offset < limit:
        raw = handle.readline(limit - offset)
        if not raw:
            return
        offset += len(raw)
        if raw.strip():
            yield number, raw, not raw.endswith(b"\n")
        number += 1


def _collect(
    numbered: Iterator[tuple[int, bytes, bool]], source: str
) -> tuple[list[RolloutLine], int]:
    lines: list[RolloutLine] = []
    errors = 0
    append = lines.append
    for number, raw, torn in numbered:
        line = decode_line(raw)
        if line is None:
            errors += 1
            log.warning(
                "skipping unreadable rollout line %d of %s%s",
                number + 1,
                source,
                " (torn last line)" if torn else "",
            )
            continue
        append(line)
    return lines, errors


def _collect_all(handle: BinaryIO, source: str) -> tuple[list[RolloutLine], int]:
    """:func:`_collect` of :func:`_iter_lines` over a whole file, in one loop: a line is
    decoded first and only checked for being blank when it does not decode (``strip``
    copies every line it looks at)."""
    lines: list[RolloutLine] = []
    errors = 0
    append = lines.append
    for number, raw in enumerate(handle):
        try:
            line = make_line(decode_json(raw))
        except ValueError:
            line = None
        if line is None:
            if raw.strip():
                errors += 1
                log.warning(
                    "skipping unreadable rollout line %d of %s%s",
                    number + 1,
                    source,
                    "" if raw.endswith(b"\n") else " (torn last line)",
                )
            continue
        append(line)
    return lines, errors


def parse_lines(data: bytes, *, source: str = "<bytes>") -> tuple[list[RolloutLine], int]:
    """Decode JSONL bytes into lines; returns ``(lines, parse_errors)``."""
    chunks = data.split(b"\n")
    last = len(chunks) - 1
    numbered = (
        (number, chunk, number == last) for number, chunk in enumerate(chunks) if chunk.strip()
    )
    return _collect(numbered, source)


def parse_records(
    records: Iterable[str | bytes], *, source: str = "<records>"
) -> tuple[list[RolloutLine], int]:
    """Decode one JSON record per item (rows a database returned, for one) as
    :func:`parse_lines` decodes their UTF-8 text joined by newlines, without building
    that text; returns ``(lines, parse_errors)``."""
    numbered = (
        (number, raw.encode() if isinstance(raw, str) else raw, False)
        for number, raw in enumerate(records)
        if raw.strip()
    )
    return _collect(numbered, source)


def _read_lines(path: Path, limit: int | None = None) -> tuple[list[RolloutLine], int]:
    """The lines of a rollout file (its first ``limit`` bytes), read and decoded one
    at a time: the file's bytes are never all in memory at once."""
    try:
        # Never blocks on a FIFO, never follows a link: see threadline.rollout.files.
        with open_for_lines(path) as handle:
            if limit is None:
                return _collect_all(handle, str(path))
            return _collect(_iter_lines(handle, limit), str(path))
    except OSError as exc:
        raise RolloutReadError(path, exc.strerror or str(exc)) from exc


@dataclass
class RolloutFile:
    """A rollout as read from disk.

    ``lines`` is the full history: for a paginated fork, the inherited parent
    prefix (recursively) followed by this file's own lines, which start at
    ``own_start``. ``meta`` is the first ``session_meta`` of this file.
    """

    path: Path
    meta: SessionMeta | None
    lines: list[RolloutLine]
    parse_errors: int = 0
    format: RolloutFormat = "legacy"
    own_start: int = 0
    ancestors: list[Path] = field(default_factory=list)
    missing_base: str | None = None

    @property
    def thread_id(self) -> str | None:
        return self.meta.id if self.meta is not None else None

    @property
    def own_lines(self) -> list[RolloutLine]:
        return self.lines[self.own_start :]

    def items(self) -> Iterator[RolloutItem]:
        """Typed items for every line (built lazily; lines that fail are skipped)."""
        for line in self.lines:
            try:
                yield line.item()
            except ValueError:
                log.warning("skipping rollout line of type %s that does not validate", line.type)


def _first_meta(lines: list[RolloutLine]) -> SessionMeta | None:
    for line in lines:
        if line.type == "session_meta":
            try:
                return line.as_session_meta()
            except ValueError:
                return None
    return None


def _detect_format(meta: SessionMeta | None, lines: list[RolloutLine]) -> RolloutFormat:
    if meta is not None and meta.history_mode == "paginated":
        return "paginated"
    if lines and lines[0].ordinal is not None:
        return "paginated"
    return "legacy"


def _regular_sibling(directory: Path, thread_id: str) -> Path | None:
    """A regular ``rollout-*-<thread_id>.jsonl`` in ``directory`` (names compared as
    strings, not as a glob pattern; links, FIFOs and the like are skipped unopened)."""
    suffix = f"-{thread_id}.jsonl"
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    for name in names:
        if name.startswith("rollout-") and name.endswith(suffix):
            candidate = directory / name
            if rollout_file_problem(candidate) is None:
                return candidate
    return None


def _default_locator(path: Path) -> Locator:
    home = home_of(path)

    def locate(thread_id: str) -> Path | None:
        if home is None:
            return _regular_sibling(path.parent, thread_id)
        return find_rollout_path(home, thread_id)

    return locate


def read_rollout(path: Path, *, locate: Locator | None = None) -> RolloutFile:
    """Read a rollout file, following a paginated fork's ``history_base`` chain."""
    path = Path(path)
    lines, errors = _read_lines(path)
    meta = _first_meta(lines)
    result = RolloutFile(
        path=path, meta=meta, lines=lines, parse_errors=errors, format=_detect_format(meta, lines)
    )
    if meta is None or meta.history_base is None:
        return result
    locate = locate or _default_locator(path)
    prefix: list[RolloutLine] = []
    base: HistoryBase | None = meta.history_base
    seen = {meta.id}
    depth = 0
    while base is not None and depth < _MAX_FORK_DEPTH:
        depth += 1
        if base.thread_id in seen:
            log.warning("fork chain of %s loops at %s; stopping", path, base.thread_id)
            break
        seen.add(base.thread_id)
        parent_path = locate(base.thread_id)
        if parent_path is None:
            log.warning("fork base %s of %s not found; history is incomplete", base.thread_id, path)
            result.missing_base = base.thread_id
            break
        parent_lines, parent_errors = _read_lines(parent_path, base.end_byte_offset)
        if base.end_ordinal_exclusive is not None:
            cut = base.end_ordinal_exclusive
            parent_lines = [
                ln for ln in parent_lines if ln.ordinal is None or ln.ordinal < cut
            ]
        result.parse_errors += parent_errors
        result.ancestors.append(parent_path)
        prefix = parent_lines + prefix
        parent_meta = _first_meta(parent_lines)
        # When the parent is itself a fork, continue with its own base.
        base = parent_meta.history_base if parent_meta is not None else None
    result.lines = prefix + lines
    result.own_start = len(prefix)
    return result


# --- a resume that needs no model items before a point -------------------------------------

SKIPPED_RESPONSE: dict[str, Any] = {"type": "skipped_before_compaction"}
"""The payload that stands for a ``response_item`` line :func:`read_rollout_from_cut`
did not decode (one shared dict; it validates as no response item)."""

SKIPPED_EVENT: dict[str, Any] = {"type": "skipped_item_event"}
"""The payload that stands for an item-carrying ``event_msg`` line that
:func:`read_rollout_from_cut` did not decode (no turn builder rule matches it)."""

_RESPONSE_HEAD = re.compile(rb'\{"timestamp":"([^"\\]*)",(?:"ordinal":\d+,)?"type":"response_item"')
_EVENT_HEAD = re.compile(
    rb'\{"timestamp":"([^"\\]*)",(?:"ordinal":\d+,)?"type":"event_msg","payload":\{"type":"([a-z_]+)"'
)
_ITEM_EVENTS = frozenset({
    "user_message", "agent_message", "agent_reasoning", "agent_reasoning_raw_content",
    "item_completed", "exec_command_end", "patch_apply_end", "mcp_tool_call_end",
    "context_compacted", "entered_review_mode", "exited_review_mode", "web_search_end",
    "view_image_tool_call", "image_generation_end", "dynamic_tool_call_request",
    "dynamic_tool_call_response",
})
"""Events that only add items to a turn (never open, close or fail one)."""


def _skipped(stamp: bytes, kind: str, payload: dict[str, Any]) -> RolloutLine:
    return build_line(stamp.decode(), kind, payload, None, None, {})


def read_rollout_from_cut(path: Path, cut: int, *, items_from: int = 0) -> RolloutFile:
    """Read a rollout line by line (never the whole file at once), decoding every line
    except the ``response_item`` lines that start before byte ``cut``: each of those
    stays in place as a line with the :data:`SKIPPED_RESPONSE` payload, so line indexes
    (which implicit turn ids use) are those of a full read. For a history that needs no
    model item before ``cut`` (``threadline.rollout.offsets.model_cut``) the result
    rebuilds the same thread as :func:`read_rollout`, without the cost of the items the
    newest compaction replaced. A paginated fork (``history_base``) is read whole.

    With ``items_from``, the events that only add items to a turn (``user_message``,
    ``agent_message``, tool ends …) before that byte are left out the same way (the
    first user message excepted: it is the preview), so the turns before it come back
    with their ids, status and times but no items: for a resume that returns no turns.
    """
    path = Path(path)
    lines: list[RolloutLine] = []
    errors = 0
    preview_seen = False
    try:
        handle = open_for_lines(path)
    except OSError as exc:
        raise RolloutReadError(path, exc.strerror or str(exc)) from exc
    with handle:
        offset = 0
        for raw in handle:
            start, offset = offset, offset + len(raw)
            if start < cut:
                skipped = _RESPONSE_HEAD.match(raw, 0, 256)
                if skipped is not None:
                    lines.append(_skipped(skipped.group(1), "response_item", SKIPPED_RESPONSE))
                    continue
            if start < items_from:
                event = _EVENT_HEAD.match(raw, 0, 256)
                if event is not None and event.group(2).decode() in _ITEM_EVENTS:
                    maybe_preview = event.group(2) in (b"user_message", b"item_completed")
                    if preview_seen or not maybe_preview:
                        lines.append(_skipped(event.group(1), "event_msg", SKIPPED_EVENT))
                        continue
            line = decode_line(raw)
            if line is None:
                if raw.strip():  # a blank line is no error (checked only here: a copy)
                    errors += 1
                    log.warning("skipping unreadable rollout line at byte %d of %s", start, path)
                continue
            if not preview_seen and line.type == "event_msg":
                preview_seen = user_message_text(line) is not None
            lines.append(line)
    meta = _first_meta(lines)
    if meta is not None and meta.history_base is not None:
        return read_rollout(path)
    return RolloutFile(
        path=path, meta=meta, lines=lines, parse_errors=errors, format=_detect_format(meta, lines)
    )


# --- heads and tails, for indexing ----------------------------------------------------------


def strip_preview(text: str) -> str:
    """A first user message as a preview: text after Codex's request marker, trimmed."""
    index = text.find(_PREVIEW_MARKER)
    if index >= 0:
        text = text[index + len(_PREVIEW_MARKER) :]
    return text.strip()


def user_message_text(line: RolloutLine) -> str | None:
    """The text of a user message event (legacy ``user_message`` or a paginated
    ``item_completed`` with a ``UserMessage`` item); ``None`` for other lines."""
    return event_user_text(line.event_type, line.payload)


def event_user_text(kind: str | None, payload: Any) -> str | None:
    """:func:`user_message_text` of an ``event_msg`` line whose ``payload.type`` is
    ``kind`` (a string, else ``None``)."""
    if kind == "user_message":
        message = payload.get("message")
        return message if isinstance(message, str) else ""
    if kind == "item_completed":
        item = payload.get("item")
        if isinstance(item, dict) and item.get("type") == "UserMessage":
            parts = item.get("content") or []
            return "".join(
                p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") == "text"
            )
    return None


def _model_of(line: RolloutLine) -> str | None:
    if line.type == "turn_context" and isinstance(line.payload, dict):
        model = line.payload.get("model")
        return model if isinstance(model, str) and model else None
    if line.event_type == "thread_settings_applied":
        settings = line.payload.get("thread_settings")
        if isinstance(settings, dict):
            model = settings.get("model")
            return model if isinstance(model, str) and model else None
    return None


@dataclass
class HeadSummary:
    """What the index needs from a rollout, read from its first lines only."""

    path: Path
    meta: SessionMeta | None
    first_user_message: str | None = None
    model: str | None = None
    format: RolloutFormat = "legacy"
    parse_errors: int = 0

    @property
    def has_user_message(self) -> bool:
        return self.first_user_message is not None


_HEAD_MARKERS = re.compile(
    rb'"(?:session_meta|user_message|item_completed|turn_context|thread_settings_applied)"'
)


def _classify(raw: bytes) -> RolloutLine | Literal[False] | None:
    if _HEAD_MARKERS.search(raw) is None:
        return False
    return decode_line(raw)


def _iter_head_lines(
    path: Path, max_bytes: int, data: bytes | list[bytes] | None = None
) -> Iterator[RolloutLine | Literal[False] | None]:
    """Lines of the head; ``False`` for a record that cannot matter to the head (its
    bytes mention none of the interesting types), which is not decoded at all.
    ``data``, when given, is the file's whole content (read by the caller)."""
    if data is not None:
        consumed = 0
        for raw in data.split(b"\n") if isinstance(data, bytes) else data:
            consumed += len(raw) + 1
            if consumed > max_bytes:
                return
            if raw.strip():
                yield _classify(raw)
        return
    try:
        handle = open_regular(path)
    except OSError as exc:
        raise RolloutReadError(path, exc.strerror or str(exc)) from exc
    with handle:
        consumed = 0
        while consumed < max_bytes:
            raw = handle.readline()
            if not raw:
                return
            consumed += len(raw)
            if raw.strip():
                yield _classify(raw)


def read_head(
    path: Path,
    *,
    locate: Locator | None = None,
    max_records: int = 10,
    extra_records: int = 200,
    max_bytes: int = 4 << 20,
    data: bytes | list[bytes] | None = None,
    _depth: int = 0,
) -> HeadSummary:
    """``session_meta`` and the first user message, reading as little as possible.

    Reads at most ``max_records`` records, or ``max_records + extra_records``
    once a ``session_meta`` was seen without a user message yet. A paginated
    fork takes its preview and model from its parent's head. ``data`` may carry
    the whole file (bytes, or its lines) when the caller has already read it.
    """
    path = Path(path)
    head = HeadSummary(path=path, meta=None)
    budget = max_records
    seen = 0
    after_user = 0
    for line in _iter_head_lines(path, max_bytes, data):
        seen += 1
        if line is None:
            head.parse_errors += 1
        elif line is False:
            pass
        elif line.type == "session_meta" and head.meta is None:
            try:
                head.meta = line.as_session_meta()
            except ValueError:
                head.parse_errors += 1
            else:
                budget = max_records + extra_records
                if line.ordinal is not None or head.meta.history_mode == "paginated":
                    head.format = "paginated"
        else:
            if head.model is None:
                head.model = _model_of(line)
            if head.first_user_message is None:
                text = user_message_text(line)
                if text is not None:
                    head.first_user_message = strip_preview(text)
        if head.first_user_message is not None:
            after_user += 1
            if head.model is not None or after_user > 5:
                break
        if seen >= budget:
            break
    meta = head.meta
    if meta is not None and meta.history_base is not None and _depth < _MAX_FORK_DEPTH:
        # The inherited history comes first, so its first user message is the preview.
        locate = locate or _default_locator(path)
        parent_path = locate(meta.history_base.thread_id)
        if parent_path is not None and parent_path != path:
            parent = read_head(parent_path, locate=locate, _depth=_depth + 1)
            if parent.first_user_message is not None:
                head.first_user_message = parent.first_user_message
            head.model = head.model or parent.model
    return head


def read_tail_token_info(path: Path, *, max_bytes: int = 256 << 10) -> TokenUsageInfo | None:
    """The newest ``token_count`` info in the last ``max_bytes`` of a file (cheap)."""
    try:
        with open_regular(path) as handle:
            handle.seek(0, 2)
            size = handle.tell()
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read()
    except OSError:
        return None
    chunks = data.split(b"\n")
    if start > 0:
        chunks = chunks[1:]  # the first chunk is a partial line
    for chunk in reversed(chunks):
        if b'"token_count"' not in chunk:
            continue
        try:
            obj = json.loads(chunk)
        except ValueError:
            continue
        payload = obj.get("payload") if isinstance(obj, dict) else None
        if isinstance(payload, dict) and payload.get("type") == "token_count":
            info = payload.get("info")
            if isinstance(info, dict):
                try:
                    return TokenUsageInfo.model_validate(info)
                except ValueError:
                    continue
    return None
