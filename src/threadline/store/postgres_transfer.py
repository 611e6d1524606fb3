"""Rollout files into the PostgreSQL store: ``threads import`` and ``store migrate --from-home``.

A rollout file (threadline's or Codex's: the same records) becomes one history in the
database, line for line, and its ``thread/list`` row is built the way the local store
builds it from a file (:func:`record_from_rollout`), shown under this store's home.
A paginated fork (a file that starts with its parent's lines by reference) is stored
whole, as a legacy fork file holds it: its own ``session_meta``, then the inherited
lines, then the rest of its own lines, so it does not depend on its parent's file.

A thread that is already in the database is left alone and reported as skipped, so a
migration that was interrupted can simply be run again. A migrated home's thread state
(goals, sections and their order, attachments, Git edits: ``state.sqlite``'s ``tl_``
tables, read-only) comes along for the threads it imported.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from threadline.protocol.rollout import dump_line_json
from threadline.rollout.paths import ARCHIVED_SESSIONS_SUBDIR, archived_path_for
from threadline.rollout.reader import RolloutFile, read_rollout
from threadline.store.base import ImportReport, StoreError, ThreadRecord
from threadline.store.postgres import PostgresThreadStore
from threadline.store.postgres_db import encodable
from threadline.store.postgres_list import upsert_values
from threadline.store.records import read_session_names, record_from_rollout
from threadline.store.transfer import standalone_lines

__all__ = ["import_rollout", "migrate_home", "rollout_files"]


def _read(path: Path, names: dict[str, str | None] | None) -> tuple[RolloutFile, ThreadRecord]:
    if path.is_symlink() or not path.is_file():
        raise StoreError(f"{path}: not a regular file")
    rollout = read_rollout(path)
    if rollout.meta is None:
        raise StoreError(f"{path}: no session_meta line (not a rollout)")
    if rollout.missing_base:
        raise StoreError(f"{path}: the fork's parent rollout {rollout.missing_base} is missing")
    record = record_from_rollout(path, names=names, require_user_message=False)
    if record is None:
        raise StoreError(f"{path}: unreadable rollout")
    return rollout, record


async def import_rollout(
    store: PostgresThreadStore, path: Path, *, names: dict[str, str | None] | None = None
) -> str:
    """Store the rollout at ``path``; returns its thread id. Raises :class:`StoreError`
    (naming the file) for a file that is not a rollout or a thread already stored."""
    rollout, record = await asyncio.to_thread(_read, path, names)
    assert rollout.meta is not None
    tid = rollout.meta.id.lower()
    shown = store.path_of(rollout.meta)
    if record.archived or path.parent.name == ARCHIVED_SESSIONS_SUBDIR:
        shown_row = archived_path_for(store.home, shown.name)
        record = replace(record, archived=True, archived_at_ms=record.archived_at_ms or record.updated_at_ms)
    else:
        shown_row = shown
    record = replace(record, id=tid, rollout_path=shown_row)
    texts = [dump_line_json(line) for line in standalone_lines(rollout)]
    columns, values = upsert_values(record)
    async with store.db.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO tl_histories (thread_id, shown_path, line_count) VALUES (%s, %s, %s) "
            "ON CONFLICT (thread_id) DO NOTHING",
            encodable((tid, str(shown), len(texts))),
        )
        if cur.rowcount == 0:
            raise StoreError(f"{path}: thread {tid} is already in the database")
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO tl_lines (thread_id, seq, line) VALUES (%s, %s, %s)",
                [(tid, n, text) for n, text in enumerate(texts)],
            )
        marks = ", ".join("%s" for _ in columns)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "id")
        await conn.execute(
            f"INSERT INTO tl_threads ({', '.join(columns)}) VALUES ({marks}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            values,
        )
    return tid


def rollout_files(home: Path) -> Iterator[Path]:
    """Every rollout of a home (live, then archived), oldest day first."""
    for root in (home / "sessions", home / ARCHIVED_SESSIONS_SUBDIR):
        if root.is_dir():
            yield from sorted(p for p in root.rglob("rollout-*.jsonl") if not p.is_symlink())


_STATE_TABLES: tuple[tuple[str, str, str], ...] = (
    # (table, columns, conflict target); members and attachments keep their rows as they are
    ("tl_sections", "id, name, appearance", "(id)"),
    ("tl_goals", "thread_id, goal_id, objective, status, token_budget, tokens_used, "
     "time_used_seconds, created_at_ms, updated_at_ms", "(thread_id)"),
    ("tl_section_members", "thread_id, section_id, position, entered_at_ms", "(thread_id)"),
    ("tl_attachments", "id, thread_id, attachment_type, identity_key, payload, created_at_ms",
     "DO NOTHING"),
    ("tl_git_edits", "thread_id, field, value", "(thread_id, field)"),
)


def _read_state(home: Path, thread_ids: set[str]) -> dict[str, list[tuple[object, ...]]]:
    """The thread state rows of ``home/state.sqlite`` for ``thread_ids``, read-only (a
    Codex home, or one without threadline's tables, has none)."""
    path = home / "state.sqlite"
    if path.is_symlink() or not path.is_file():
        return {}
    found: dict[str, list[tuple[object, ...]]] = {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        for table, columns, _ in _STATE_TABLES:
            try:
                rows = db.execute(f"SELECT {columns} FROM {table}").fetchall()
            except sqlite3.Error:
                continue  # not a threadline state database (or an older one)
            owner = 1 if table == "tl_attachments" else 0  # the column naming the thread
            if table != "tl_sections":
                rows = [r for r in rows if str(r[owner]) in thread_ids]
            found[table] = rows
    finally:
        db.close()
    return found


async def _copy_state(store: PostgresThreadStore, home: Path, thread_ids: set[str]) -> int:
    state = await asyncio.to_thread(_read_state, home, thread_ids)
    copied = 0
    async with store.db.connection() as conn, conn.transaction():
        for table, columns, target in _STATE_TABLES:
            rows = state.get(table, [])
            if not rows:
                continue
            names = [c.strip() for c in columns.split(",")]
            marks = ", ".join("%s" for _ in names)
            if target == "DO NOTHING":
                conflict = "ON CONFLICT DO NOTHING"
            else:
                keys = {k.strip() for k in target.strip("()").split(",")}
                sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in keys)
                conflict = f"ON CONFLICT {target} DO UPDATE SET {sets}"
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks}) {conflict}", rows
                )
            copied += len(rows)
    return copied


async def migrate_home(store: PostgresThreadStore, home: Path) -> ImportReport:
    """Import every rollout of ``home`` (names from its ``session_index.jsonl``), then the
    goals, sections, attachments and Git edits its ``state.sqlite`` keeps for them."""
    names = await asyncio.to_thread(read_session_names, home)
    report = ImportReport()
    for path in await asyncio.to_thread(lambda: list(rollout_files(home))):
        try:
            report.imported.append(await import_rollout(store, path, names=names))
        except StoreError as exc:
            report.skipped.append((str(path), exc.message))
    if report.imported:
        await _copy_state(store, home, set(report.imported))
        for thread_id in await store.state.git_edits(report.imported):
            row = await store.get(thread_id)
            if row is not None:
                await store.upsert(row)  # the row shows the edited Git fields
    return report
