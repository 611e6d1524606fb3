"""Rollout files into the PostgreSQL store: ``threads import`` and ``store migrate --from-home``.

A rollout file (threadline's or Codex's: the same records) becomes one history in the
database, line for line, and its ``thread/list`` row is built the way the local store
builds it from a file (:func:`record_from_rollout`), shown under this store's home.
A paginated fork (a file that starts with its parent's lines by reference) is stored
whole, as a legacy fork file holds it: its own ``session_meta``, then the inherited
lines, then the rest of its own lines, so it does not depend on its parent's file.

A thread that is already in the database is left alone and reported as skipped, so a
migration that was interrupted can simply be run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from threadline.protocol.rollout import dump_line_json
from threadline.rollout.paths import ARCHIVED_SESSIONS_SUBDIR, archived_path_for
from threadline.rollout.reader import RolloutFile, read_rollout
from threadline.store.base import ImportReport, StoreError, ThreadRecord
from threadline.store.postgres import PostgresThreadStore
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
            (tid, str(shown), len(texts)),
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


async def migrate_home(store: PostgresThreadStore, home: Path) -> ImportReport:
    """Import every rollout of ``home`` (names from its ``session_index.jsonl``)."""
    names = await asyncio.to_thread(read_session_names, home)
    report = ImportReport()
    for path in await asyncio.to_thread(lambda: list(rollout_files(home))):
        try:
            report.imported.append(await import_rollout(store, path, names=names))
        except StoreError as exc:
            report.skipped.append((str(path), exc.message))
    return report
