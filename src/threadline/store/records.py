"""Building index rows from rollout files, reading only what is cheap.

A row needs the ``session_meta`` (id, times, source, provider, cwd, git, fork
parent), the first real user message (the preview), the model, the newest
token total, the newest memory mode and the thread name. The head of the file
gives the first group; a bounded read of the tail gives the token total, a
memory-mode update (an appended ``session_meta`` copy) and a
``thread_name_updated`` event; ``session_index.jsonl`` gives the name Codex
and threadline record on ``thread/name/set``. No rollout is ever read whole.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.protocol.lazy_module import lazy_module
from threadline.protocol.text import dumps_compact
from threadline.rollout.files import append_lines_synced, open_regular, open_regular_append
from threadline.rollout.paths import (
    ARCHIVED_SESSIONS_SUBDIR,
    parse_rollout_file_name,
    uuid7_time_ms,
)
from threadline.store.base import PREVIEW_MAX_CHARS, GitRecord, ThreadRecord
from threadline.store.gc_pause import gc_paused

if TYPE_CHECKING:
    from threadline.protocol.rollout import SessionMeta
    from threadline.rollout import reader
    from threadline.rollout.reader import HeadSummary, Locator
else:  # the rollout reader (and the rollout models) load with the first head read
    reader = lazy_module("threadline.rollout.reader", around=gc_paused)

__all__ = [
    "SESSION_INDEX_FILE",
    "TailSummary",
    "append_session_name",
    "discard_session_names",
    "bound_preview",
    "encode_source",
    "parse_time_ms",
    "read_session_names",
    "read_tail_summary",
    "record_from_rollout",
    "source_kind_of",
]

log = logging.getLogger(__name__)

SESSION_INDEX_FILE = "session_index.jsonl"
"""Append-only ``{id, thread_name, updated_at}`` lines; the newest line for an id wins."""

_TAIL_FIRST_CHUNK = 16 << 10
_TAIL_MAX_BYTES = 1 << 20
_WHOLE_FILE_MAX = 128 << 10

_SUBAGENT_KINDS = {
    "review": "subAgentReview",
    "compact": "subAgentCompact",
    "thread_spawn": "subAgentThreadSpawn",
}


# --- small conversions ----------------------------------------------------------------------


def encode_source(source: Any) -> str:
    """A ``session_meta.source`` value as one string: the word itself, else compact JSON."""
    if isinstance(source, str):
        return source
    if source is None:
        return "vscode"  # Codex's default when the field is missing
    return json.dumps(source, separators=(",", ":"), sort_keys=True)


def _decode_source(source: str) -> Any:
    if source.startswith("{"):
        try:
            return json.loads(source)
        except ValueError:
            return source
    return source


def source_kind_of(source: str) -> str:
    """The v2 ``ThreadSourceKind`` of a stored source (``cli``, ``subAgentReview`` ...)."""
    value = _decode_source(source)
    if isinstance(value, str):
        if value in ("cli", "vscode", "exec", "unknown"):
            return value
        if value in ("mcp", "app_server", "appServer"):
            return "appServer"
        return "unknown"
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if key in ("subagent", "subAgent", "sub_agent"):
            name = inner if isinstance(inner, str) else next(iter(inner), "") if isinstance(inner, dict) else ""
            return _SUBAGENT_KINDS.get(str(name), "subAgentOther")
    return "unknown"


def bound_preview(text: str | None) -> str:
    """A first user message cut to ``PREVIEW_MAX_CHARS`` characters."""
    if not text:
        return ""
    return text if len(text) <= PREVIEW_MAX_CHARS else text[:PREVIEW_MAX_CHARS]


def parse_time_ms(stamp: Any) -> int | None:
    """Milliseconds since the epoch of an RFC 3339 timestamp (``…Z`` or with an offset)."""
    if not isinstance(stamp, str) or not stamp:
        return None
    text = stamp.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python < 3.12 accepts at most six fractional digits; Codex may write nine.
    dot = text.find(".")
    if dot >= 0:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        text = text[: dot + 1] + text[dot + 1 : end][:6].ljust(1, "0") + text[end:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


# --- session_index.jsonl ----------------------------------------------------------------------


def read_session_names(home: Path) -> dict[str, str | None]:
    """Thread id -> newest name from ``session_index.jsonl`` (``None`` = cleared)."""
    names: dict[str, str | None] = {}
    try:
        # Like a rollout: a FIFO or a link in its place is never opened or followed.
        with open_regular(home / SESSION_INDEX_FILE) as handle:
            data = handle.read()
    except OSError:
        return names
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        name = entry.get("thread_name")
        names[entry["id"].lower()] = name if isinstance(name, str) and name else None
    return names


def append_session_name(home: Path, thread_id: str, name: str | None) -> int:
    """Append one ``{id, thread_name, updated_at}`` line (a single whole-line write) and
    sync it; returns the offset the line starts at (see :func:`discard_session_names`).

    A write that fails (disk full) is cut off again, so no torn or stray line stays.
    """
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    line = dumps_compact({"id": thread_id, "thread_name": name, "updated_at": stamp})
    data = (line + "\n").encode("utf-8")
    home.mkdir(parents=True, exist_ok=True)
    with open_regular_append(home / SESSION_INDEX_FILE, create=True, readable=True) as handle:
        return append_lines_synced(handle.fileno(), data)


def discard_session_names(home: Path, offset: int) -> None:
    """Cut ``session_index.jsonl`` back to ``offset`` (undo a just-appended line)."""
    with open_regular_append(home / SESSION_INDEX_FILE) as handle:
        fd = handle.fileno()
        if os.fstat(fd).st_size > offset:
            os.ftruncate(fd, offset)
            os.fsync(fd)


# --- tail ---------------------------------------------------------------------------------------


@dataclass
class TailSummary:
    """What the newest lines of a rollout say (each field ``None`` when not seen)."""

    tokens_used: int | None = None
    name: str | None = None
    name_seen: bool = False
    memory_mode: str | None = None
    model: str | None = None


_TOKEN = b'"token_count"'
_NAME = b'"thread_name_updated"'
_MEMORY = b'"memory_mode"'
_CONTEXT = b'"turn_context"'


def _scan_tail_chunk(
    lines: list[bytes],
    summary: TailSummary,
    *,
    want_model: bool = True,
    own_id: str | None = None,
    joined: bytes | None = None,
) -> None:
    """Fill what is still unknown from ``lines`` (newest last). Only lines whose bytes
    mention a wanted type are decoded; markers absent from the chunk are not searched."""
    if joined is None:
        joined = b"\n".join(lines)
    markers = [
        marker
        for marker, needed in (
            (_TOKEN, summary.tokens_used is None),
            (_NAME, not summary.name_seen),
            (_MEMORY, summary.memory_mode is None),
            (_CONTEXT, want_model and summary.model is None),
        )
        if needed and marker in joined
    ]
    if not markers:
        return
    for raw in reversed(lines):
        if not any(marker in raw for marker in markers):
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        payload = obj.get("payload") if isinstance(obj, dict) else None
        if not isinstance(payload, dict):
            continue
        kind = obj.get("type")
        if kind == "event_msg":
            event = payload.get("type")
            if event == "token_count" and summary.tokens_used is None:
                info = payload.get("info")
                if isinstance(info, dict):
                    total = info.get("total_token_usage")
                    if isinstance(total, dict) and isinstance(total.get("total_tokens"), int):
                        summary.tokens_used = total["total_tokens"]
                        markers = [m for m in markers if m is not _TOKEN]
            elif event == "thread_name_updated" and not summary.name_seen:
                name = payload.get("thread_name")
                summary.name = name if isinstance(name, str) and name else None
                summary.name_seen = True
                markers = [m for m in markers if m is not _NAME]
        elif kind == "session_meta" and summary.memory_mode is None:
            mode = payload.get("memory_mode")
            # A fork carries copies of its parent's meta lines; only our own count.
            mine = own_id is None or str(payload.get("id", "")).lower() == own_id
            if isinstance(mode, str) and mine:
                summary.memory_mode = mode
                markers = [m for m in markers if m is not _MEMORY]
        elif kind == "turn_context" and summary.model is None:
            model = payload.get("model")
            if isinstance(model, str) and model:
                summary.model = model
                markers = [m for m in markers if m is not _CONTEXT]
        if not markers:
            return


def read_tail_summary(
    path: Path, *, max_bytes: int = _TAIL_MAX_BYTES, own_id: str | None = None
) -> TailSummary:
    """Scan backwards from the end in growing chunks until a ``token_count`` with info is
    found or ``max_bytes`` were read. Only lines mentioning a wanted type are decoded."""
    summary = TailSummary()
    try:
        handle = open_regular(path)  # never blocks on a FIFO, never follows a link
    except OSError:
        return summary
    with handle:
        size = handle.seek(0, os.SEEK_END)
        end = size
        carry = b""
        chunk_size = _TAIL_FIRST_CHUNK
        read_total = 0
        while end > 0 and read_total < max_bytes:
            start = max(0, end - chunk_size)
            handle.seek(start)
            data = handle.read(end - start) + carry
            read_total += end - start
            parts = data.split(b"\n")
            if start > 0:
                carry = parts[0]  # a partial line: completed by the next (earlier) chunk
                parts = parts[1:]
            else:
                carry = b""
            _scan_tail_chunk(parts, summary, own_id=own_id)
            if summary.tokens_used is not None:
                break
            end = start
            chunk_size = min(chunk_size * 4, max_bytes)
    return summary


# --- a whole row ----------------------------------------------------------------------------------


def _created_ms(meta: SessionMeta, path: Path) -> int:
    created = parse_time_ms(meta.timestamp)
    if created is not None:
        return created
    parsed = parse_rollout_file_name(path.name)
    if parsed is not None:
        return int(parsed.stamp.timestamp() * 1000)
    from_id = uuid7_time_ms(meta.id)
    return from_id if from_id is not None else 0


def _git_of(meta: SessionMeta) -> GitRecord | None:
    git = meta.git
    if git is None:
        return None
    if git.commit_hash is None and git.branch is None and git.repository_url is None:
        return None
    return GitRecord(sha=git.commit_hash, branch=git.branch, origin_url=git.repository_url)


def record_from_head(
    head: HeadSummary,
    *,
    tail: TailSummary | None = None,
    mtime_ms: int | None = None,
    name: str | None = None,
    archived_at_ms: int | None = None,
) -> ThreadRecord | None:
    """The row for a rollout whose head was read; ``None`` without a ``session_meta``."""
    meta = head.meta
    if meta is None:
        return None
    path = head.path
    tail = tail or TailSummary()
    archived = path.parent.name == ARCHIVED_SESSIONS_SUBDIR
    created = _created_ms(meta, path)
    updated = max(mtime_ms if mtime_ms is not None else created, created)
    return ThreadRecord(
        id=meta.id.lower(),
        rollout_path=path,
        created_at_ms=created,
        updated_at_ms=updated,
        source=encode_source(meta.source),
        model_provider=meta.model_provider or "",
        cwd=meta.cwd,
        cli_version=meta.cli_version,
        originator=meta.originator,
        name=name if name is not None else tail.name,
        preview=bound_preview(head.first_user_message),
        archived=archived,
        archived_at_ms=(archived_at_ms if archived_at_ms is not None else updated) if archived else None,
        forked_from_id=meta.forked_from_id,
        memory_mode=tail.memory_mode or meta.memory_mode,
        tokens_used=tail.tokens_used or 0,
        model=head.model or tail.model,
        git=_git_of(meta),
    )


def record_from_rollout(
    path: Path,
    *,
    locate: Locator | None = None,
    names: dict[str, str | None] | None = None,
    require_user_message: bool = True,
) -> ThreadRecord | None:
    """Read the head and tail of one rollout and build its row.

    Returns ``None`` for a file without ``session_meta`` or, with
    ``require_user_message``, one without any user message (Codex does not list those).
    """
    try:
        stat = path.stat()
    except OSError:
        return None
    data: bytes | None = None
    if stat.st_size <= _WHOLE_FILE_MAX:
        try:
            data = path.read_bytes()  # small file: one read serves head and tail
        except OSError:
            return None
    lines = data.split(b"\n") if data is not None else None
    head = reader.read_head(path, locate=locate, data=lines)
    if head.meta is None:
        return None
    if require_user_message and not head.has_user_message:
        return None
    if data is not None and lines is not None:
        tail = TailSummary()
        _scan_tail_chunk(
            lines, tail, want_model=head.model is None, own_id=head.meta.id.lower(), joined=data
        )
    else:
        tail = read_tail_summary(path, own_id=head.meta.id.lower())
    name: str | None = None
    if names is not None:
        key = head.meta.id.lower()
        if key in names:
            name = names[key]
            tail.name = name
            tail.name_seen = True
    return record_from_head(head, tail=tail, mtime_ms=stat.st_mtime_ns // 1_000_000, name=name)
