"""What a ``ListQuery`` means, shared by the SQLite index and the in-memory store.

* ``limit`` is clamped to ``1..MAX_LIST_LIMIT``.
* ``archived`` keeps only rows with that flag.
* ``model_providers`` / ``source_kinds`` / ``cwds``: ``None`` or empty means no
  filter (the app-server decides what an omitted parameter means before calling
  the store). ``source_kinds`` compares :func:`source_kind_of` values; ``cwds``
  compare normalised paths.
* ``search_term`` matches a case-insensitive substring of the name or the preview;
  blank means no filter.
* ``excluded_ids`` are dropped before the limit is applied.
* Order: ``(sort value, id)`` descending or ascending; the cursor is exclusive.
"""

from __future__ import annotations

import os

from threadline.store.base import MAX_LIST_LIMIT, ListQuery, ThreadRecord
from threadline.store.cursor import Cursor, decode_cursor
from threadline.store.records import source_kind_of

__all__ = ["clamp_limit", "contains_folded", "matches", "normalize_cwd", "sort_value"]


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return 25
    return max(1, min(MAX_LIST_LIMIT, int(limit)))


def normalize_cwd(cwd: str) -> str:
    return os.path.normpath(cwd) if cwd else cwd


def contains_folded(haystack: str | None, needle: str) -> bool:
    """Case-insensitive (Unicode casefold) substring test; ``needle`` is already folded."""
    return bool(haystack) and needle in haystack.casefold()  # type: ignore[union-attr]


def sort_value(record: ThreadRecord, key: str) -> int:
    return record.updated_at_ms if key == "updated_at" else record.created_at_ms


def _after(record: ThreadRecord, query: ListQuery, cursor: Cursor) -> bool:
    value = sort_value(record, query.sort_key)
    desc = query.sort_direction == "desc"
    if cursor.thread_id is None:
        return value <= cursor.value_ms if desc else value >= cursor.value_ms
    key = (value, record.id)
    anchor = (cursor.value_ms, cursor.thread_id)
    return key < anchor if desc else key > anchor


def matches(record: ThreadRecord, query: ListQuery, cursor: Cursor | None = None) -> bool:
    """Whether ``record`` belongs to the result of ``query`` (past ``cursor``)."""
    if record.archived != query.archived:
        return False
    if query.model_providers and record.model_provider not in query.model_providers:
        return False
    if query.source_kinds and source_kind_of(record.source) not in query.source_kinds:
        return False
    if query.cwds and normalize_cwd(record.cwd) not in {normalize_cwd(c) for c in query.cwds}:
        return False
    term = (query.search_term or "").strip()
    if term:
        folded = term.casefold()
        if not (contains_folded(record.name, folded) or contains_folded(record.preview, folded)):
            return False
    if record.id in query.excluded_ids:
        return False
    if cursor is None and query.cursor:
        cursor = decode_cursor(query.cursor)
    return cursor is None or _after(record, query, cursor)
