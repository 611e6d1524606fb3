"""Per-thread state that is not history: goals, sections, attachments, Git metadata
edits, and the size and mtime each rollout had when it was last indexed.

None of it can be rebuilt from the rollouts, so it lives in its own tables next to
``threads`` in ``state.sqlite`` (prefixed ``tl_``). A reindex rewrites and prunes only
``threads``; these tables are created with ``IF NOT EXISTS`` and never dropped. A thread's
rows go when the thread is deleted (:meth:`ThreadState.forget`). A database that is set
aside as unreadable loses them with it (the rollouts cannot bring them back).

:class:`ThreadState` runs its SQL on a connection it is handed (the local store's index
connection, on its worker thread; the memory store's own in-memory database), so the
same code serves both stores.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Generic, TypeVar

from threadline.protocol.records import record
from threadline.protocol.text import without_surrogates
from threadline.store.base import GitRecord, StoreError, ThreadRecord

__all__ = [
    "PINNED_SECTION_ID",
    "AttachmentRecord",
    "GoalRecord",
    "MemoryStateDb",
    "Page",
    "Placement",
    "SectionRecord",
    "ThreadState",
    "changed_rollouts",
    "with_git_edits",
]

_T = TypeVar("_T")

Runner = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]
"""Runs ``fn(connection)`` where the connection may be used and returns its result."""

PINNED_SECTION_ID = "01984de2-8f74-7c91-a3b2-5c5e937cf318"
"""The section every Codex state database starts with ("Pinned"); threadline seeds it too."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tl_goals (
        thread_id TEXT PRIMARY KEY NOT NULL,
        goal_id TEXT NOT NULL,
        objective TEXT NOT NULL,
        status TEXT NOT NULL,
        token_budget INTEGER,
        tokens_used INTEGER NOT NULL DEFAULT 0,
        time_used_seconds INTEGER NOT NULL DEFAULT 0,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS tl_sections (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        appearance TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS tl_section_members (
        thread_id TEXT PRIMARY KEY NOT NULL,
        section_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        entered_at_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS tl_section_members_order "
    "ON tl_section_members (section_id, position, thread_id)",
    """CREATE TABLE IF NOT EXISTS tl_attachments (
        id TEXT PRIMARY KEY NOT NULL,
        thread_id TEXT NOT NULL,
        attachment_type TEXT NOT NULL,
        identity_key TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        UNIQUE (thread_id, attachment_type, identity_key)
    )""",
    "CREATE INDEX IF NOT EXISTS tl_attachments_identity "
    "ON tl_attachments (attachment_type, identity_key, thread_id)",
    """CREATE TABLE IF NOT EXISTS tl_git_edits (
        thread_id TEXT NOT NULL,
        field TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (thread_id, field)
    )""",
    """CREATE TABLE IF NOT EXISTS tl_rollout_stats (
        thread_id TEXT PRIMARY KEY NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL
    )""",
    f"INSERT OR IGNORE INTO tl_sections (id, name, appearance) VALUES ('{PINNED_SECTION_ID}', 'Pinned', NULL)",
)

GIT_FIELDS = ("sha", "branch", "origin_url")


@record
class GoalRecord:
    thread_id: str
    goal_id: str
    objective: str
    status: str
    """The wire value: active, paused, blocked, usageLimited, budgetLimited, complete."""
    token_budget: int | None
    tokens_used: int
    time_used_seconds: int
    created_at_ms: int
    updated_at_ms: int


@record
class SectionRecord:
    id: str
    name: str
    appearance: dict[str, Any] | None = None


@record
class Placement:
    """Where a thread sits: its section, when it entered it, its position there."""

    section: SectionRecord
    entered_at_ms: int
    position: int


@record
class AttachmentRecord:
    id: str
    thread_id: str
    attachment_type: str
    identity_key: str
    payload: Any
    created_at_ms: int


@record
class Page(Generic[_T]):
    items: list[_T]
    next_cursor: str | None


def _b(value: Any) -> Any:
    return without_surrogates(value) if isinstance(value, str) else value


def _goal(row: Sequence[Any]) -> GoalRecord:
    return GoalRecord(*row)


def _section(row: Sequence[Any]) -> SectionRecord:
    return SectionRecord(row[0], row[1], json.loads(row[2]) if row[2] is not None else None)


def _attachment(row: Sequence[Any]) -> AttachmentRecord:
    return AttachmentRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])


def _page(rows: list[_T], limit: int, key: Callable[[_T], str]) -> Page[_T]:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, key(rows[-1]) if more and rows else None)


class _Tx:
    """``with _Tx(db):`` one IMMEDIATE transaction, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


class ThreadState:
    """The state tables. Every method runs on the store's SQLite worker."""

    def __init__(self, run: Runner, read_only: Callable[[], str | None] | None = None, *,
                 read: Runner | None = None, quiet: Runner | None = None) -> None:
        self._runner = run
        self._reader = read
        """Runs a read that changes nothing (the local store's may skip its worker thread);
        ``run`` when None."""
        self._quiet = quiet  # runs the rollout stats' write, which no cached read reads
        self._ready = False
        self._read_only = read_only or (lambda: None)

    async def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """:meth:`_run` for a change; refused (a :class:`StoreError` naming the file) when
        the database is not writable, rather than kept in memory and lost at exit."""
        await self._run(lambda db: None)  # opens the database, so read_only is known
        problem = self._read_only()
        if problem is not None:
            raise StoreError(f"cannot save thread state: {problem}")
        return await self._run(fn)

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if not self._ready:
            await self._runner(self._create)
            self._ready = True
        result: _T = await self._runner(fn)
        return result

    async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._reader is None or not self._ready:
            return await self._run(fn)
        result: _T = await self._reader(fn)
        return result

    @staticmethod
    def _create(db: sqlite3.Connection) -> None:
        with _Tx(db):
            for statement in _SCHEMA:
                db.execute(statement)

    # -- goals -------------------------------------------------------------------------------
    async def goal(self, thread_id: str) -> GoalRecord | None:
        def read(db: sqlite3.Connection) -> GoalRecord | None:
            row = db.execute(
                "SELECT thread_id, goal_id, objective, status, token_budget, tokens_used, "
                "time_used_seconds, created_at_ms, updated_at_ms FROM tl_goals WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            return _goal(row) if row is not None else None

        return await self._run(read)

    async def put_goal(self, goal: GoalRecord) -> None:
        values = tuple(_b(v) for v in (
            goal.thread_id, goal.goal_id, goal.objective, goal.status, goal.token_budget,
            goal.tokens_used, goal.time_used_seconds, goal.created_at_ms, goal.updated_at_ms,
        ))
        await self._write(lambda db: db.execute(
            "INSERT OR REPLACE INTO tl_goals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values
        ))

    async def add_goal_usage(
        self, thread_id: str, *, tokens: int, seconds: int, now_ms: int
    ) -> GoalRecord | None:
        """Count a turn's tokens and time against the thread's active goal; a goal whose
        budget is then spent becomes ``budgetLimited``. None when no goal is active."""

        def write(db: sqlite3.Connection) -> bool:
            with _Tx(db):
                changed = db.execute(
                    "UPDATE tl_goals SET tokens_used = tokens_used + ?, "
                    "time_used_seconds = time_used_seconds + ?, updated_at_ms = ?, "
                    "status = CASE WHEN token_budget IS NOT NULL "
                    "AND tokens_used + ? >= token_budget THEN 'budgetLimited' ELSE status END "
                    "WHERE thread_id = ? AND status = 'active'",
                    (tokens, seconds, now_ms, tokens, thread_id),
                ).rowcount
            return bool(changed)

        if self._read_only() is not None:
            return None  # nothing to keep it in; the turn itself was not stored either
        return await self.goal(thread_id) if await self._run(write) else None

    async def delete_goal(self, thread_id: str) -> bool:
        return bool(await self._write(lambda db: db.execute(
            "DELETE FROM tl_goals WHERE thread_id = ?", (thread_id,)
        ).rowcount))

    # -- sections ----------------------------------------------------------------------------
    async def sections(self, limit: int, cursor: str | None) -> Page[SectionRecord]:
        def read(db: sqlite3.Connection) -> list[SectionRecord]:
            rows = db.execute(
                "SELECT id, name, appearance FROM tl_sections WHERE id > ? ORDER BY id LIMIT ?",
                (_b(cursor or ""), limit + 1),
            ).fetchall()
            return [_section(r) for r in rows]

        return _page(await self._run(read), limit, lambda s: s.id)

    async def section(self, section_id: str) -> SectionRecord | None:
        def read(db: sqlite3.Connection) -> SectionRecord | None:
            row = db.execute(
                "SELECT id, name, appearance FROM tl_sections WHERE id = ?", (_b(section_id),)
            ).fetchone()
            return _section(row) if row is not None else None

        return await self._run(read)

    async def put_section(self, section: SectionRecord) -> None:
        appearance = json.dumps(section.appearance) if section.appearance is not None else None
        values = (_b(section.id), _b(section.name), _b(appearance))
        await self._write(lambda db: db.execute(
            "INSERT OR REPLACE INTO tl_sections (id, name, appearance) VALUES (?, ?, ?)", values
        ))

    async def delete_section(self, section_id: str) -> bool:
        """Drop the section; its threads leave it (they are not deleted)."""

        def write(db: sqlite3.Connection) -> bool:
            with _Tx(db):
                gone = db.execute("DELETE FROM tl_sections WHERE id = ?", (_b(section_id),)).rowcount
                db.execute("DELETE FROM tl_section_members WHERE section_id = ?", (_b(section_id),))
            return bool(gone)

        return await self._write(write)

    async def placement(self, thread_id: str) -> Placement | None:
        found = await self.placements([thread_id])
        return found.get(thread_id)

    async def placements(self, thread_ids: Sequence[str]) -> dict[str, Placement]:
        ids = [_b(t) for t in dict.fromkeys(thread_ids)]
        if not ids:
            return {}

        def read(db: sqlite3.Connection) -> dict[str, Placement]:
            marks = ", ".join("?" for _ in ids)
            rows = db.execute(
                "SELECT m.thread_id, m.entered_at_ms, m.position, s.id, s.name, s.appearance "
                "FROM tl_section_members m JOIN tl_sections s ON s.id = m.section_id "
                f"WHERE m.thread_id IN ({marks})",
                ids,
            ).fetchall()
            return {r[0]: Placement(_section(r[3:]), r[1], r[2]) for r in rows}

        return await self._read(read)

    async def move(
        self, thread_id: str, section_id: str | None, before: str | None, *, now_ms: int
    ) -> None:
        """Put the thread into ``section_id`` (before ``before``, else last), or out of
        its section when ``section_id`` is None. Entering another section stamps
        ``entered_at``; a move within the section keeps it."""

        def write(db: sqlite3.Connection) -> None:
            with _Tx(db):
                if section_id is None:
                    db.execute("DELETE FROM tl_section_members WHERE thread_id = ?", (thread_id,))
                    return
                sid = _b(section_id)
                if db.execute("SELECT 1 FROM tl_sections WHERE id = ?", (sid,)).fetchone() is None:
                    raise StoreError(f"section {section_id} does not exist")
                current = db.execute(
                    "SELECT section_id, entered_at_ms FROM tl_section_members WHERE thread_id = ?",
                    (thread_id,),
                ).fetchone()
                entered = current[1] if current is not None and current[0] == sid else now_ms
                if before is not None:
                    if before == thread_id:
                        raise StoreError(f"thread {thread_id} cannot be moved before itself")
                    row = db.execute(
                        "SELECT position FROM tl_section_members "
                        "WHERE thread_id = ? AND section_id = ?",
                        (_b(before), sid),
                    ).fetchone()
                    if row is None:
                        raise StoreError(f"before thread {before} is not in section {section_id}")
                    db.execute("DELETE FROM tl_section_members WHERE thread_id = ?", (thread_id,))
                    db.execute(
                        "UPDATE tl_section_members SET position = position + 1 "
                        "WHERE section_id = ? AND position >= ?",
                        (sid, row[0]),
                    )
                    position = row[0]
                else:
                    db.execute("DELETE FROM tl_section_members WHERE thread_id = ?", (thread_id,))
                    (last,) = db.execute(
                        "SELECT MAX(position) FROM tl_section_members WHERE section_id = ?", (sid,)
                    ).fetchone()
                    position = (last if last is not None else -1) + 1
                db.execute(
                    "INSERT INTO tl_section_members VALUES (?, ?, ?, ?)",
                    (thread_id, sid, position, entered),
                )

        await self._write(write)

    async def section_members(self, section_id: str) -> list[str]:
        """The section's threads in their order (first to last)."""
        return await self._run(lambda db: [r[0] for r in db.execute(
            "SELECT thread_id FROM tl_section_members WHERE section_id = ? "
            "ORDER BY position, thread_id",
            (_b(section_id),),
        ).fetchall()])

    # -- attachments -------------------------------------------------------------------------
    async def add_attachment(self, record: AttachmentRecord) -> tuple[AttachmentRecord, bool]:
        """Store ``record`` unless the thread has one of that type and identity; returns
        the stored one and whether it is new."""
        payload = json.dumps(record.payload, ensure_ascii=False)

        def write(db: sqlite3.Connection) -> tuple[AttachmentRecord, bool]:
            with _Tx(db):
                added = db.execute(
                    "INSERT OR IGNORE INTO tl_attachments VALUES (?, ?, ?, ?, ?, ?)",
                    tuple(_b(v) for v in (
                        record.id, record.thread_id, record.attachment_type,
                        record.identity_key, payload, record.created_at_ms,
                    )),
                ).rowcount
                row = db.execute(
                    "SELECT id, thread_id, attachment_type, identity_key, payload, created_at_ms "
                    "FROM tl_attachments WHERE thread_id = ? AND attachment_type = ? "
                    "AND identity_key = ?",
                    (_b(record.thread_id), _b(record.attachment_type), _b(record.identity_key)),
                ).fetchone()
            return _attachment(row), bool(added)

        return await self._write(write)

    async def attachments(
        self, thread_id: str, limit: int, cursor: str | None
    ) -> Page[AttachmentRecord]:
        def read(db: sqlite3.Connection) -> list[AttachmentRecord]:
            rows = db.execute(
                "SELECT id, thread_id, attachment_type, identity_key, payload, created_at_ms "
                "FROM tl_attachments WHERE thread_id = ? AND id > ? ORDER BY id LIMIT ?",
                (thread_id, _b(cursor or ""), limit + 1),
            ).fetchall()
            return [_attachment(r) for r in rows]

        return _page(await self._run(read), limit, lambda a: a.id)

    async def remove_attachment(
        self, thread_id: str, attachment_type: str, identity_key: str
    ) -> AttachmentRecord | None:
        key = (thread_id, _b(attachment_type), _b(identity_key))

        def write(db: sqlite3.Connection) -> AttachmentRecord | None:
            with _Tx(db):
                row = db.execute(
                    "SELECT id, thread_id, attachment_type, identity_key, payload, created_at_ms "
                    "FROM tl_attachments WHERE thread_id = ? AND attachment_type = ? "
                    "AND identity_key = ?",
                    key,
                ).fetchone()
                if row is not None:
                    db.execute("DELETE FROM tl_attachments WHERE id = ?", (row[0],))
            return _attachment(row) if row is not None else None

        return await self._write(write)

    async def attachment_owners(
        self, attachment_type: str, identity_key: str, limit: int, cursor: str | None
    ) -> Page[str]:
        def read(db: sqlite3.Connection) -> list[str]:
            return [r[0] for r in db.execute(
                "SELECT thread_id FROM tl_attachments WHERE attachment_type = ? "
                "AND identity_key = ? AND thread_id > ? ORDER BY thread_id LIMIT ?",
                (_b(attachment_type), _b(identity_key), _b(cursor or ""), limit + 1),
            ).fetchall()]

        return _page(await self._run(read), limit, lambda t: t)

    # -- Git metadata edits ------------------------------------------------------------------
    async def edit_git(self, thread_id: str, changes: dict[str, str | None]) -> None:
        """Remember ``thread/metadata/update``'s Git fields (a value, or None: cleared)."""
        unknown = set(changes) - set(GIT_FIELDS)
        if unknown:
            raise ValueError(f"unknown git fields {sorted(unknown)}")

        def write(db: sqlite3.Connection) -> None:
            with _Tx(db):
                db.executemany(
                    "INSERT OR REPLACE INTO tl_git_edits VALUES (?, ?, ?)",
                    [(thread_id, k, _b(v)) for k, v in changes.items()],
                )

        await self._write(write)

    async def git_edits(self, thread_ids: Sequence[str]) -> dict[str, dict[str, str | None]]:
        ids = list(dict.fromkeys(thread_ids))
        if not ids:
            return {}

        def read(db: sqlite3.Connection) -> dict[str, dict[str, str | None]]:
            marks = ", ".join("?" for _ in ids)
            found: dict[str, dict[str, str | None]] = {}
            for tid, name, value in db.execute(
                f"SELECT thread_id, field, value FROM tl_git_edits WHERE thread_id IN ({marks})",
                ids,
            ).fetchall():
                found.setdefault(tid, {})[name] = value
            return found

        return await self._run(read)

    # -- rollout stats (thread/list notices rollouts another program appended to) --------------
    async def rollout_stats(self) -> dict[str, tuple[int, int]]:
        return await self._run(lambda db: {
            r[0]: (r[1], r[2])
            for r in db.execute("SELECT thread_id, size, mtime_ns FROM tl_rollout_stats")
        })

    async def set_rollout_stats(self, stats: dict[str, tuple[int, int]]) -> None:
        if not stats:
            return

        def write(db: sqlite3.Connection) -> None:
            with _Tx(db):
                db.executemany(
                    "INSERT OR REPLACE INTO tl_rollout_stats VALUES (?, ?, ?)",
                    [(k, s, m) for k, (s, m) in stats.items()],
                )

        await (self._run(write) if self._quiet is None or not self._ready else self._quiet(write))

    # -- a deleted thread --------------------------------------------------------------------
    async def forget(self, thread_id: str) -> list[AttachmentRecord]:
        """Drop every row of the thread; returns the attachments it had."""

        def write(db: sqlite3.Connection) -> list[AttachmentRecord]:
            with _Tx(db):
                rows = db.execute(
                    "SELECT id, thread_id, attachment_type, identity_key, payload, created_at_ms "
                    "FROM tl_attachments WHERE thread_id = ? ORDER BY id",
                    (thread_id,),
                ).fetchall()
                for table in (
                    "tl_goals", "tl_section_members", "tl_attachments", "tl_git_edits",
                    "tl_rollout_stats",
                ):
                    db.execute(f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
            return [_attachment(r) for r in rows]

        return await self._write(write)


async def with_git_edits(
    state: ThreadState, records: Sequence[ThreadRecord]
) -> list[ThreadRecord]:
    """``records`` with the Git fields ``thread/metadata/update`` set (kept in the state
    tables, so a row rebuilt from its rollout, or rewritten by a loaded thread, keeps them)."""
    edits = await state.git_edits([r.id for r in records])
    out = []
    for row in records:
        changes = edits.get(row.id)
        if changes:
            git = row.git or GitRecord()
            fields = {f: changes.get(f, getattr(git, f)) for f in GIT_FIELDS}
            empty = all(v is None for v in fields.values())
            row = replace(row, git=None if empty else GitRecord(**fields))
        out.append(row)
    return out


def changed_rollouts(
    rows: Sequence[tuple[str, str, int]], known: dict[str, tuple[int, int]]
) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """Of ``rows`` (id, rollout path, the row's ``updated_at_ms``): the ids whose rollout
    changed since ``known`` (their size and mtime then), and every new size and mtime.
    A rollout never seen counts as changed when it is newer than its row by over a
    second (appended to between the indexing and the first look)."""
    changed: list[str] = []
    seen: dict[str, tuple[int, int]] = {}
    for thread_id, path, updated_at_ms in rows:
        try:
            st = os.stat(path)
        except OSError:
            continue
        now = (st.st_size, st.st_mtime_ns)
        before = known.get(thread_id)
        if before == now:
            continue
        seen[thread_id] = now
        if before is not None or st.st_mtime_ns // 1_000_000 > updated_at_ms + 1000:
            changed.append(thread_id)
    return changed, seen


class MemoryStateDb:
    """A private in-memory SQLite database and its one worker thread (the memory store's)."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="threadline-state")
        self._conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        def call() -> _T:
            if self._conn is None:
                self._conn = sqlite3.connect(
                    ":memory:", check_same_thread=False, isolation_level=None
                )
            return fn(self._conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=False)
