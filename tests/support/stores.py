"""The persistence suite's two stores: the local one (rollout files + SQLite under the
home) and the PostgreSQL one (a fresh database per test in the session's cluster).

A suite test takes the ``store`` fixture (``tests/e2e/conftest.py``; parametrize with
:data:`both_stores`) and goes through it for everything it used to do with rollout
files directly, so its assertions read the same under both stores:

* :meth:`StoreUnderTest.seed` puts a rollout file the test wrote into the store: the
  local store reads it where it is; for PostgreSQL it is imported (what ``threadline
  threads import`` does) and the file is removed, so nothing can read it behind the
  store's back.
* :meth:`StoreUnderTest.raw_lines` / :meth:`lines` give a thread's rollout lines (the
  file's, or the database's ``tl_lines`` in order), found by ``thread.path`` or id.
* :meth:`StoreUnderTest.histories` lists every stored history with its lines.

A test about files themselves (torn tails, hostile files, symlinks, a read-only home)
is marked :func:`local_only` with its reason and runs once, on the local store.

Every PostgreSQL test database is a copy of one migrated template (``CREATE DATABASE
… TEMPLATE``): a copy takes a few milliseconds, where migrating a new database on
each server start would take far longer.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

__all__ = [
    "STORE_KINDS",
    "StoreUnderTest",
    "both_stores",
    "local_only",
    "new_store",
]

STORE_KINDS = ("local", "postgres")

both_stores = pytest.mark.parametrize("store", STORE_KINDS, indirect=True)
"""Run a test (or, as ``pytestmark``, a module) once per store."""

F = TypeVar("F", bound=Callable[..., Any])

_TEMPLATE = "tl_suite_template"
_counter = itertools.count(1)
_template_ready: list[str] = []


def local_only(reason: str) -> Callable[[F], F]:
    """Mark a test of a both-stores module as one for the local store alone (it is about
    the files themselves); the PostgreSQL run of it is skipped with ``reason``."""

    def mark(func: F) -> F:
        func.local_only = reason  # type: ignore[attr-defined]
        return func

    return mark


def _suite_database() -> str:
    """A fresh, migrated database in the session's cluster (a copy of the template)."""
    import psycopg
    from tests.support.postgres import session_cluster

    from threadline.store.postgres_schema import migrate_sync

    cluster = session_cluster()
    if not _template_ready:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {_TEMPLATE}")
            conn.execute(f"CREATE DATABASE {_TEMPLATE}")
        with psycopg.connect(cluster.url_for(_TEMPLATE), autocommit=True) as conn:
            migrate_sync(conn)
        _template_ready.append(_TEMPLATE)
    name = f"suite_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    return cluster.url_for(name)


@dataclass
class StoreUnderTest:
    kind: str
    url: str | None = None
    _gone: dict[str, str] = field(default_factory=dict)

    @property
    def postgres(self) -> bool:
        return self.kind == "postgres"

    @property
    def env(self) -> dict[str, str]:
        """What a server process needs in its environment to use this store."""
        return {"THREADLINE_STORE_URL": self.url} if self.url else {}

    @property
    def config(self) -> str:
        """A ``[store]`` table for a ``config.toml`` (an in-process server reads no
        environment of its own); empty for the local store."""
        return f'\n[store]\nkind = "postgres"\nurl = "{self.url}"\n' if self.url else ""

    # -- putting rollouts in ---------------------------------------------------------------
    async def seed(self, path: Path, *, home: Path | None = None) -> Path:
        """Make the rollout file at ``path`` (written under a home's ``sessions/``) a
        stored thread; returns ``path``. PostgreSQL: imported, then the file is removed."""
        if not self.postgres:
            return path
        from threadline.store.postgres import PostgresThreadStore
        from threadline.store.postgres_transfer import import_rollout

        assert self.url is not None
        home = home or _home_of(path)
        async with PostgresThreadStore(self.url, home) as target:
            await import_rollout(target, path)
        self._gone[str(path)] = path.read_text(encoding="utf-8")
        path.unlink()
        return path

    async def seed_home(self, home: Path) -> None:
        """Make every rollout under ``home`` (a Codex or threadline home, with its
        ``session_index.jsonl`` names) stored threads. PostgreSQL: what ``threadline store
        migrate --from-home`` does, then the home's rollouts and name index are removed."""
        if not self.postgres:
            return
        import shutil

        from threadline.store.postgres import PostgresThreadStore
        from threadline.store.postgres_transfer import migrate_home

        assert self.url is not None
        async with PostgresThreadStore(self.url, home) as target:
            report = await migrate_home(target, home)
        assert not report.skipped, report.skipped
        for sub in ("sessions", "archived_sessions"):
            shutil.rmtree(home / sub, ignore_errors=True)
        (home / "session_index.jsonl").unlink(missing_ok=True)

    async def reseed(self, path: Path) -> Path:
        """The file at ``path`` was written again (same thread, new content): the store
        now holds the new content as a new generation of the history (what a rewrite of
        the file is to the local store)."""
        if not self.postgres:
            return path
        tid = self._thread_id(str(path))
        generation = 0
        if tid is not None:
            with self._connect() as conn, conn.transaction():
                row = conn.execute(
                    "SELECT generation FROM tl_histories WHERE thread_id = %s", (tid,)
                ).fetchone()
                generation = int(row[0]) + 1
                for table, column in (("tl_lines", "thread_id"), ("tl_histories", "thread_id"),
                                      ("tl_threads", "id")):
                    conn.execute(f"DELETE FROM {table} WHERE {column} = %s", (tid,))
        await self.seed(path)
        tid = self._thread_id(str(path))
        with self._connect() as conn:
            conn.execute(
                "UPDATE tl_histories SET generation = %s WHERE thread_id = %s", (generation, tid)
            )
        return path

    def append_raw(self, where: str | Path, lines: list[str]) -> None:
        """Another writer appends ``lines`` (JSON text) to the thread's rollout: to the
        file, or to the database's lines the way a server's append stores them."""
        if not self.postgres:
            with Path(where).open("a", encoding="utf-8") as handle:
                handle.write("".join(f"{line}\n" for line in lines))
            return
        tid = self._thread_id(str(where))
        assert tid is not None, where
        with self._connect() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE tl_histories SET line_count = line_count + %s WHERE thread_id = %s "
                "RETURNING line_count",
                (len(lines), tid),
            ).fetchone()
            start = int(row[0]) - len(lines)
            for n, text in enumerate(lines):
                conn.execute(
                    "INSERT INTO tl_lines (thread_id, seq, line) VALUES (%s, %s, %s)",
                    (tid, start + n, text),
                )

    # -- reading lines back ---------------------------------------------------------------
    def raw_lines(self, where: str | Path) -> list[str]:
        """The rollout lines (JSON text, in order) of the thread whose ``thread.path`` or
        id is ``where``."""
        if not self.postgres:
            return Path(where).read_text(encoding="utf-8").splitlines()
        tid = self._thread_id(str(where))
        if tid is None:
            raise FileNotFoundError(f"no stored history for {where}")
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT line FROM tl_lines WHERE thread_id = %s ORDER BY seq", (tid,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def lines(self, where: str | Path) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.raw_lines(where)]

    async def rollout_file(self, where: str | Path, *, home: Path, out: Path) -> Path:
        """A rollout file of the thread (to give to the real Codex): the local store's
        own file, or what ``threadline threads export ID --out`` writes (to ``out``)."""
        if not self.postgres:
            return Path(where)
        import asyncio
        import sys

        tid = self._thread_id(str(where))
        assert tid is not None, where
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "THREADLINE_HOME": str(home), **self.env}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "threadline", "threads", "export", tid, "--out", str(out),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await proc.communicate()
        assert proc.returncode == 0, (stdout, stderr)
        return out

    def exists(self, where: str | Path) -> bool:
        if not self.postgres:
            return Path(where).exists()
        return self._thread_id(str(where)) is not None

    def histories(self, home: Path) -> dict[str, list[str]]:
        """Every stored history, by its rollout file name, with its lines."""
        if not self.postgres:
            out: dict[str, list[str]] = {}
            for root in (home / "sessions", home / "archived_sessions"):
                if root.is_dir():
                    for path in sorted(root.rglob("*.jsonl")):
                        out[path.name] = path.read_text(encoding="utf-8").splitlines()
            return out
        with self._connect() as conn:
            heads = conn.execute(
                "SELECT thread_id, shown_path FROM tl_histories ORDER BY thread_id"
            ).fetchall()
        return {Path(str(shown)).name: self.raw_lines(str(tid)) for tid, shown in heads}

    def check_no_rollout_files(self, homes: list[Path]) -> None:
        """On PostgreSQL everything goes to the database: fail if a server wrote a rollout
        file under one of ``homes`` anyway."""
        if not self.postgres:
            return
        written = [
            str(p) for home in set(homes) for sub in ("sessions", "archived_sessions")
            for p in (home / sub).rglob("*.jsonl")
        ]
        assert not written, f"rollout files written beside the PostgreSQL store: {written}"

    def _connect(self) -> Any:
        import psycopg

        assert self.url is not None
        return psycopg.connect(self.url, autocommit=True)

    def _thread_id(self, where: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT h.thread_id FROM tl_histories h LEFT JOIN tl_threads t "
                "ON t.id = h.thread_id WHERE h.thread_id = %s OR h.shown_path = %s "
                "OR t.rollout_path = %s LIMIT 1",
                (where.lower(), where, where),
            ).fetchone()
        return str(row[0]) if row is not None else None


def _home_of(path: Path) -> Path:
    for parent in path.parents:
        if parent.name in ("sessions", "archived_sessions"):
            return parent.parent
    raise ValueError(f"{path} is not under a home's sessions/")


def new_store(kind: str) -> StoreUnderTest:
    """A store for one test: the local one, or a fresh PostgreSQL database (skips the
    test when PostgreSQL is not installed; fails under CI)."""
    if kind == "local":
        return StoreUnderTest("local")
    if kind != "postgres":
        raise ValueError(kind)
    return StoreUnderTest("postgres", _suite_database())


DEFAULT_STORE_ENV = "THREADLINE_TEST_STORE"
"""Set to ``postgres`` to run every test that is not parametrized over the stores on
PostgreSQL too (a fresh database each): ``THREADLINE_TEST_STORE=postgres pytest tests/e2e``
(an exploration aid; tests about files fail there by design)."""


def store_for(request: pytest.FixtureRequest) -> StoreUnderTest:
    """The ``store`` fixture's value: ``request.param`` when parametrized, else local
    (or what :data:`DEFAULT_STORE_ENV` names)."""
    kind = getattr(request, "param", None) or os.environ.get(DEFAULT_STORE_ENV) or "local"
    reason = getattr(getattr(request, "function", None), "local_only", None)
    if kind == "postgres" and reason:
        pytest.skip(f"local store only: {reason}")
    return new_store(kind)
