"""The thread state (goals, sections, attachments, Git edits) in PostgreSQL.

The same contract as :class:`~threadline.store.thread_state.ThreadState` (which runs
its SQL on SQLite), method for method, on the ``tl_*`` tables of
:mod:`.postgres_schema`. Changes that read then write (a goal's usage, a move within a
section, an attachment added unless present) run in one transaction; a section's
positions are serialized by locking its row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from threadline.protocol.text import without_surrogates
from threadline.store.base import StoreError
from threadline.store.postgres_db import PgDatabase
from threadline.store.thread_state import (
    GIT_FIELDS,
    AttachmentRecord,
    GoalRecord,
    Page,
    Placement,
    SectionRecord,
    ThreadState,
)

__all__ = ["PostgresThreadState"]

_ATTACHMENT_COLUMNS = "id, thread_id, attachment_type, identity_key, payload, created_at_ms"
_GOAL_COLUMNS = (
    "thread_id, goal_id, objective, status, token_budget, tokens_used, "
    "time_used_seconds, created_at_ms, updated_at_ms"
)


def _b(value: Any) -> Any:
    return without_surrogates(value) if isinstance(value, str) else value


def _section(row: Sequence[Any]) -> SectionRecord:
    return SectionRecord(row[0], row[1], json.loads(row[2]) if row[2] is not None else None)


def _attachment(row: Sequence[Any]) -> AttachmentRecord:
    return AttachmentRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])


def _page(rows: list[Any], limit: int, key: Any) -> Page[Any]:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, key(rows[-1]) if more and rows else None)


async def _unused_runner(fn: Any) -> Any:
    raise RuntimeError("PostgresThreadState runs no SQLite")


class PostgresThreadState(ThreadState):
    def __init__(self, db: PgDatabase) -> None:
        super().__init__(_unused_runner)
        self._db = db

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._db.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._db.connection() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    # -- goals -------------------------------------------------------------------------------
    async def goal(self, thread_id: str) -> GoalRecord | None:
        rows = await self._all(
            f"SELECT {_GOAL_COLUMNS} FROM tl_goals WHERE thread_id = %s", (thread_id,)
        )
        return GoalRecord(*rows[0]) if rows else None

    async def put_goal(self, goal: GoalRecord) -> None:
        values = tuple(_b(v) for v in (
            goal.thread_id, goal.goal_id, goal.objective, goal.status, goal.token_budget,
            goal.tokens_used, goal.time_used_seconds, goal.created_at_ms, goal.updated_at_ms,
        ))
        await self._exec(
            f"INSERT INTO tl_goals ({_GOAL_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (thread_id) DO UPDATE SET goal_id = EXCLUDED.goal_id, "
            "objective = EXCLUDED.objective, status = EXCLUDED.status, "
            "token_budget = EXCLUDED.token_budget, tokens_used = EXCLUDED.tokens_used, "
            "time_used_seconds = EXCLUDED.time_used_seconds, "
            "created_at_ms = EXCLUDED.created_at_ms, updated_at_ms = EXCLUDED.updated_at_ms",
            values,
        )

    async def add_goal_usage(
        self, thread_id: str, *, tokens: int, seconds: int, now_ms: int
    ) -> GoalRecord | None:
        rows = await self._all(
            "UPDATE tl_goals SET tokens_used = tokens_used + %s, "
            "time_used_seconds = time_used_seconds + %s, updated_at_ms = %s, "
            "status = CASE WHEN token_budget IS NOT NULL "
            "AND tokens_used + %s >= token_budget THEN 'budgetLimited' ELSE status END "
            f"WHERE thread_id = %s AND status = 'active' RETURNING {_GOAL_COLUMNS}",
            (tokens, seconds, now_ms, tokens, thread_id),
        )
        return GoalRecord(*rows[0]) if rows else None

    async def delete_goal(self, thread_id: str) -> bool:
        return bool(await self._exec("DELETE FROM tl_goals WHERE thread_id = %s", (thread_id,)))

    # -- sections ----------------------------------------------------------------------------
    async def sections(self, limit: int, cursor: str | None) -> Page[SectionRecord]:
        rows = await self._all(
            "SELECT id, name, appearance FROM tl_sections WHERE id > %s ORDER BY id LIMIT %s",
            (_b(cursor or ""), limit + 1),
        )
        return _page([_section(r) for r in rows], limit, lambda s: s.id)

    async def section(self, section_id: str) -> SectionRecord | None:
        rows = await self._all(
            "SELECT id, name, appearance FROM tl_sections WHERE id = %s", (_b(section_id),)
        )
        return _section(rows[0]) if rows else None

    async def put_section(self, section: SectionRecord) -> None:
        appearance = json.dumps(section.appearance) if section.appearance is not None else None
        await self._exec(
            "INSERT INTO tl_sections (id, name, appearance) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, appearance = EXCLUDED.appearance",
            (_b(section.id), _b(section.name), _b(appearance)),
        )

    async def delete_section(self, section_id: str) -> bool:
        async with self._db.connection() as conn, conn.transaction():
            cur = await conn.execute("DELETE FROM tl_sections WHERE id = %s", (_b(section_id),))
            gone = cur.rowcount
            await conn.execute(
                "DELETE FROM tl_section_members WHERE section_id = %s", (_b(section_id),)
            )
        return bool(gone)

    async def placements(self, thread_ids: Sequence[str]) -> dict[str, Placement]:
        ids = [_b(t) for t in dict.fromkeys(thread_ids)]
        if not ids:
            return {}
        rows = await self._all(
            "SELECT m.thread_id, m.entered_at_ms, m.position, s.id, s.name, s.appearance "
            "FROM tl_section_members m JOIN tl_sections s ON s.id = m.section_id "
            "WHERE m.thread_id = ANY(%s)",
            (ids,),
        )
        return {r[0]: Placement(_section(r[3:]), r[1], r[2]) for r in rows}

    async def move(
        self, thread_id: str, section_id: str | None, before: str | None, *, now_ms: int
    ) -> None:
        async with self._db.connection() as conn, conn.transaction():
            if section_id is None:
                await conn.execute(
                    "DELETE FROM tl_section_members WHERE thread_id = %s", (thread_id,)
                )
                return
            sid = _b(section_id)
            cur = await conn.execute(
                "SELECT 1 FROM tl_sections WHERE id = %s FOR UPDATE", (sid,)
            )
            if await cur.fetchone() is None:
                raise StoreError(f"section {section_id} does not exist")
            cur = await conn.execute(
                "SELECT section_id, entered_at_ms FROM tl_section_members WHERE thread_id = %s",
                (thread_id,),
            )
            current = await cur.fetchone()
            entered = current[1] if current is not None and current[0] == sid else now_ms
            if before is not None:
                if before == thread_id:
                    raise StoreError(f"thread {thread_id} cannot be moved before itself")
                cur = await conn.execute(
                    "SELECT position FROM tl_section_members "
                    "WHERE thread_id = %s AND section_id = %s",
                    (_b(before), sid),
                )
                row = await cur.fetchone()
                if row is None:
                    raise StoreError(f"before thread {before} is not in section {section_id}")
                await conn.execute(
                    "DELETE FROM tl_section_members WHERE thread_id = %s", (thread_id,)
                )
                await conn.execute(
                    "UPDATE tl_section_members SET position = position + 1 "
                    "WHERE section_id = %s AND position >= %s",
                    (sid, row[0]),
                )
                position = row[0]
            else:
                await conn.execute(
                    "DELETE FROM tl_section_members WHERE thread_id = %s", (thread_id,)
                )
                cur = await conn.execute(
                    "SELECT MAX(position) FROM tl_section_members WHERE section_id = %s", (sid,)
                )
                last = await cur.fetchone()
                position = (last[0] if last and last[0] is not None else -1) + 1
            await conn.execute(
                "INSERT INTO tl_section_members (thread_id, section_id, position, entered_at_ms) "
                "VALUES (%s, %s, %s, %s)",
                (thread_id, sid, position, entered),
            )

    async def section_members(self, section_id: str) -> list[str]:
        rows = await self._all(
            "SELECT thread_id FROM tl_section_members WHERE section_id = %s "
            "ORDER BY position, thread_id",
            (_b(section_id),),
        )
        return [r[0] for r in rows]

    # -- attachments -------------------------------------------------------------------------
    async def add_attachment(self, record: AttachmentRecord) -> tuple[AttachmentRecord, bool]:
        payload = json.dumps(record.payload, ensure_ascii=False)
        async with self._db.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"INSERT INTO tl_attachments ({_ATTACHMENT_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                tuple(_b(v) for v in (
                    record.id, record.thread_id, record.attachment_type,
                    record.identity_key, payload, record.created_at_ms,
                )),
            )
            added = cur.rowcount
            cur = await conn.execute(
                f"SELECT {_ATTACHMENT_COLUMNS} FROM tl_attachments WHERE thread_id = %s "
                "AND attachment_type = %s AND identity_key = %s",
                (_b(record.thread_id), _b(record.attachment_type), _b(record.identity_key)),
            )
            row = await cur.fetchone()
        if row is None:  # the id was taken by another thread's attachment
            raise StoreError(f"attachment id {record.id} is already in use")
        return _attachment(row), bool(added)

    async def attachments(
        self, thread_id: str, limit: int, cursor: str | None
    ) -> Page[AttachmentRecord]:
        rows = await self._all(
            f"SELECT {_ATTACHMENT_COLUMNS} FROM tl_attachments "
            "WHERE thread_id = %s AND id > %s ORDER BY id LIMIT %s",
            (thread_id, _b(cursor or ""), limit + 1),
        )
        return _page([_attachment(r) for r in rows], limit, lambda a: a.id)

    async def remove_attachment(
        self, thread_id: str, attachment_type: str, identity_key: str
    ) -> AttachmentRecord | None:
        rows = await self._all(
            "DELETE FROM tl_attachments WHERE thread_id = %s AND attachment_type = %s "
            f"AND identity_key = %s RETURNING {_ATTACHMENT_COLUMNS}",
            (thread_id, _b(attachment_type), _b(identity_key)),
        )
        return _attachment(rows[0]) if rows else None

    async def attachment_owners(
        self, attachment_type: str, identity_key: str, limit: int, cursor: str | None
    ) -> Page[str]:
        rows = await self._all(
            "SELECT thread_id FROM tl_attachments WHERE attachment_type = %s "
            "AND identity_key = %s AND thread_id > %s ORDER BY thread_id LIMIT %s",
            (_b(attachment_type), _b(identity_key), _b(cursor or ""), limit + 1),
        )
        return _page([r[0] for r in rows], limit, lambda t: t)

    # -- Git metadata edits ------------------------------------------------------------------
    async def edit_git(self, thread_id: str, changes: dict[str, str | None]) -> None:
        unknown = set(changes) - set(GIT_FIELDS)
        if unknown:
            raise ValueError(f"unknown git fields {sorted(unknown)}")
        async with self._db.connection() as conn, conn.transaction():
            for field, value in changes.items():
                await conn.execute(
                    "INSERT INTO tl_git_edits (thread_id, field, value) VALUES (%s, %s, %s) "
                    "ON CONFLICT (thread_id, field) DO UPDATE SET value = EXCLUDED.value",
                    (thread_id, field, _b(value)),
                )

    async def git_edits(self, thread_ids: Sequence[str]) -> dict[str, dict[str, str | None]]:
        ids = list(dict.fromkeys(thread_ids))
        if not ids:
            return {}
        found: dict[str, dict[str, str | None]] = {}
        for tid, name, value in await self._all(
            "SELECT thread_id, field, value FROM tl_git_edits WHERE thread_id = ANY(%s)", (ids,)
        ):
            found.setdefault(tid, {})[name] = value
        return found

    # -- rollout stats: there are no rollout files another program could append to --------
    async def rollout_stats(self) -> dict[str, tuple[int, int]]:
        return {}

    async def set_rollout_stats(self, stats: dict[str, tuple[int, int]]) -> None:
        return None

    # -- a deleted thread --------------------------------------------------------------------
    async def forget(self, thread_id: str) -> list[AttachmentRecord]:
        async with self._db.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"DELETE FROM tl_attachments WHERE thread_id = %s RETURNING {_ATTACHMENT_COLUMNS}",
                (thread_id,),
            )
            rows = await cur.fetchall()
            for table in ("tl_goals", "tl_section_members", "tl_git_edits"):
                await conn.execute(f"DELETE FROM {table} WHERE thread_id = %s", (thread_id,))
        return sorted((_attachment(r) for r in rows), key=lambda a: a.id)
