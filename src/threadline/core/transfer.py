"""Threads in and out of the store as rollout files (``threadline threads export|import``,
``threadline store migrate``).

Export works on any store: the thread's lines, the same records a rollout file holds,
written as one standalone Codex rollout (a paginated fork gets its parent's lines
inlined, as a legacy fork file has them), so Codex can resume it. Import and migrate
fill the PostgreSQL store; the local store needs neither (it reads rollout files
where they are: put them under ``sessions/`` and run ``threads reindex``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from threadline.store.base import ImportReport, StoreError, ThreadStore
from threadline.store.transfer import ExportedThread, export_thread

if TYPE_CHECKING:
    from threadline.store.postgres import PostgresThreadStore

__all__ = ["ExportedThread", "ImportReport", "export_thread", "import_rollouts", "migrate_home"]


def _postgres(store: ThreadStore, what: str) -> PostgresThreadStore:
    try:
        from threadline.store.postgres import PostgresThreadStore
    except ImportError as exc:  # the postgres extra is not installed
        raise StoreError(f"{what} needs the PostgreSQL store: {exc}") from exc
    if not isinstance(store, PostgresThreadStore):
        raise StoreError(
            f'{what} fills the PostgreSQL store ([store] kind = "postgres" or '
            "THREADLINE_STORE_URL); the local store reads rollout files where they are: "
            "put them under sessions/ and run `threadline threads reindex`"
        )
    return store


async def import_rollouts(store: ThreadStore, paths: list[Path]) -> ImportReport:
    target = _postgres(store, "threads import")
    from threadline.store.postgres_transfer import import_rollout

    report = ImportReport()
    for path in paths:
        try:
            report.imported.append(await import_rollout(target, path))
        except StoreError as exc:
            report.skipped.append((str(path), exc.message))
    return report


async def migrate_home(store: ThreadStore, home: Path) -> ImportReport:
    target = _postgres(store, "store migrate")
    from threadline.store.postgres_transfer import migrate_home as migrate

    if not (home / "sessions").is_dir() and not (home / "archived_sessions").is_dir():
        raise StoreError(f"{home}: no sessions/ or archived_sessions/ (not a threadline or Codex home)")
    return await migrate(target, home)
