"""``thread/list`` in PostgreSQL: the rows of ``tl_threads`` and the keyset query.

The meaning of a :class:`ListQuery` is the one :mod:`threadline.store.query` states for
the other stores (filters, ``(sort value, id)`` order, exclusive cursor, inclusive
backwards cursor, limit clamp). A page is one range scan of the
``(archived, <sort key>, id)`` index from the cursor, read ``limit + 1`` rows deep to
know whether there is a next page, so its cost does not grow with the number of
threads. The search matches case-folded name and preview columns written with the
row (Python's ``casefold``, the same folding the other stores compare with).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from threadline.store.base import GitRecord, ListPage, ListQuery, ThreadRecord
from threadline.store.cursor import decode_cursor, encode_backwards_cursor, encode_cursor
from threadline.store.postgres_db import encodable
from threadline.store.query import clamp_limit, normalize_cwd, sort_value
from threadline.store.records import bound_preview, source_kind_of

__all__ = ["RECORD_COLUMNS", "list_page", "record_of", "upsert_values"]

_FIELDS = (
    "id", "rollout_path", "created_at_ms", "updated_at_ms", "source", "model_provider", "cwd",
    "cli_version", "originator", "name", "preview", "archived", "archived_at_ms",
    "forked_from_id", "memory_mode", "tokens_used", "model", "reasoning_effort",
    "git_sha", "git_branch", "git_origin_url",
)
RECORD_COLUMNS = ", ".join(_FIELDS)


def record_of(row: tuple[Any, ...]) -> ThreadRecord:
    values = dict(zip(_FIELDS, row, strict=True))
    sha, branch, origin = values.pop("git_sha"), values.pop("git_branch"), values.pop("git_origin_url")
    git = None if sha is None and branch is None and origin is None else GitRecord(sha, branch, origin)
    values["rollout_path"] = Path(values["rollout_path"])
    return ThreadRecord(**values, git=git)


def upsert_values(record: ThreadRecord) -> tuple[list[str], list[Any]]:
    """The columns and values of the row for ``record`` (cwd normalised, preview bounded)."""
    preview = bound_preview(record.preview)
    git = record.git or GitRecord()
    values: dict[str, Any] = {
        "id": record.id.lower(),
        "rollout_path": str(record.rollout_path),
        "created_at_ms": record.created_at_ms,
        "updated_at_ms": record.updated_at_ms,
        "source": record.source,
        "source_kind": source_kind_of(record.source),
        "model_provider": record.model_provider,
        "cwd": normalize_cwd(record.cwd),
        "cli_version": record.cli_version,
        "originator": record.originator,
        "name": record.name,
        "preview": preview,
        "name_folded": (record.name or "").casefold(),
        "preview_folded": preview.casefold(),
        "archived": record.archived,
        "archived_at_ms": record.archived_at_ms,
        "forked_from_id": record.forked_from_id,
        "memory_mode": record.memory_mode,
        "tokens_used": record.tokens_used,
        "model": record.model,
        "reasoning_effort": record.reasoning_effort,
        "git_sha": git.sha,
        "git_branch": git.branch,
        "git_origin_url": git.origin_url,
    }
    return list(values), encodable(list(values.values()))


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_page(conn: AsyncConnection, query: ListQuery) -> ListPage:
    cursor = decode_cursor(query.cursor) if query.cursor else None
    limit = clamp_limit(query.limit)
    desc = query.sort_direction != "asc"
    column = "updated_at_ms" if query.sort_key == "updated_at" else "created_at_ms"
    where = ["archived = %s"]
    params: list[Any] = [query.archived]
    if query.model_providers:
        where.append("model_provider = ANY(%s)")
        params.append(list(query.model_providers))
    if query.source_kinds:
        where.append("source_kind = ANY(%s)")
        params.append(list(query.source_kinds))
    if query.cwds:
        where.append("cwd = ANY(%s)")
        params.append(encodable(sorted({normalize_cwd(c) for c in query.cwds})))
    term = (query.search_term or "").strip()
    if term:
        pattern = _like_pattern(term.casefold())
        where.append("(name_folded LIKE %s ESCAPE '\\' OR preview_folded LIKE %s ESCAPE '\\')")
        params += [pattern, pattern]
    if query.excluded_ids:
        where.append("NOT (id = ANY(%s))")
        params.append(list(query.excluded_ids))
    if query.included_ids is not None:
        where.append("id = ANY(%s)")
        params.append(list(query.included_ids))
    if cursor is not None:
        if cursor.thread_id is None:
            where.append(f"{column} {'<=' if desc else '>='} %s")
            params.append(cursor.value_ms)
        else:
            where.append(f"({column}, id) {'<' if desc else '>'} (%s, %s)")
            params += [cursor.value_ms, cursor.thread_id]
    order = "DESC" if desc else "ASC"
    sql = (
        f"SELECT {RECORD_COLUMNS} FROM tl_threads WHERE {' AND '.join(where)} "
        f"ORDER BY {column} {order}, id {order} LIMIT %s"
    )
    params.append(limit + 1)
    cur = await conn.execute(sql, params)
    rows = [record_of(r) for r in await cur.fetchall()]
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit and page:
        next_cursor = encode_cursor(sort_value(page[-1], query.sort_key), page[-1].id)
    backwards = encode_backwards_cursor(sort_value(page[0], query.sort_key)) if page else None
    return ListPage(records=page, next_cursor=next_cursor, backwards_cursor=backwards)
