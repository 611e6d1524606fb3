"""The PostgreSQL store on a real throw-away cluster: histories (create, load, append, fork,
archive, delete), migrations, writer leases across store instances and after a lost
session, a database that is down, and rollout files in and out (import, migrate, export).
The listing and thread-state suites run on it too (test_listing.py,
test_thread_state_store.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from tests.store._rollouts import BASE_TIME, write_rollout
from tests.support.postgres import pg_database_url, start_cluster

from threadline.core.transfer import export_thread, import_rollouts, migrate_home
from threadline.protocol.rollout import EventMsg, SessionMeta, format_rollout_timestamp
from threadline.store import ListQuery, LocalThreadStore, StoreError, ThreadInUse, new_thread_id
from threadline.store.postgres import PostgresThreadStore
from threadline.store.postgres_schema import SCHEMA_VERSION
from threadline.store.records import record_from_rollout
from threadline.store.thread_state import AttachmentRecord, GoalRecord, SectionRecord

MARKER = "<turn_aborted>test marker</turn_aborted>"


def _meta(thread_id: str) -> SessionMeta:
    return SessionMeta(
        id=thread_id,
        timestamp=format_rollout_timestamp(datetime.now(UTC)),
        cwd="/work/project",
        originator="threadline_tests",
        cli_version="0.1.0",
        source="cli",
        model_provider="openai",
    )


@pytest.fixture
def url() -> str:
    return pg_database_url("pgstore")


@pytest.fixture
async def store(url: str, tmp_path: Path) -> AsyncIterator[PostgresThreadStore]:
    async with PostgresThreadStore(url, tmp_path / "home") as opened:
        yield opened


async def test_history_appears_with_the_first_user_message_and_grows(
    store: PostgresThreadStore,
) -> None:
    tid = new_thread_id()
    sink = store.create_thread(_meta(tid), extended_history=False, fsync=False)
    await sink.append([EventMsg(type="task_started", turn_id="t1", model_context_window=1000)])
    assert not sink.materialized
    with pytest.raises(StoreError, match=f"no rollout found for thread id {tid}"):
        await store.locate(tid)
    await sink.append([EventMsg(type="user_message", message="hi", images=[])])
    assert sink.materialized and sink.path is not None
    assert sink.path.name.endswith(f"-{tid}.jsonl") and not sink.path.exists()
    await sink.append([EventMsg(type="agent_message", message="hello back")])
    await sink.close()

    ref = await store.locate(tid)
    assert (ref.thread_id, ref.path) == (tid, sink.path)
    assert (await store.locate(path=str(sink.path))).thread_id == tid
    stored = await store.load_history(ref)
    assert [line.type for line in stored.lines][:2] == ["session_meta", "event_msg"]
    assert [line.event_type for line in stored.lines][1:] == [
        "task_started", "user_message", "agent_message"
    ]
    assert stored.recon.preview == "hi"
    assert (await store.read_meta(ref)).id == tid
    assert not await store.changed_since(stored)
    rename = EventMsg(type="thread_name_updated", thread_id=tid, thread_name="named")
    await store.append_items(ref, [rename], durable=True)
    assert await store.changed_since(stored)
    again = await store.load_history(ref)
    assert again.recon.name == "named"
    assert await store.turn_ids(ref) == [t.id for t in again.recon.turns]


async def test_resume_appends_after_the_stored_lines_and_fork_copies_them(
    store: PostgresThreadStore,
) -> None:
    tid = new_thread_id()
    sink = store.create_thread(_meta(tid), extended_history=False, fsync=False)
    await sink.append([
        EventMsg(type="task_started", turn_id="t1", model_context_window=1000),
        EventMsg(type="user_message", message="first", images=[]),
    ])
    await sink.close()
    stored = await store.load_history(await store.locate(tid), live=True)
    assert stored.recon.open_turn_id == "t1"
    resumed = await store.resume_thread(stored, extended_history=False, fsync=False)
    await resumed.append([EventMsg(type="agent_message", message="second")])
    await resumed.close()
    lines = (await store.load_history(await store.locate(tid))).lines
    assert [line.event_type for line in lines][-2:] == ["user_message", "agent_message"]

    source = await store.fork_source(stored, interrupted_marker=MARKER)
    assert source.marked
    child = new_thread_id()
    fork = await store.fork_thread(_meta(child), source, extended_history=False, fsync=False)
    await fork.close()
    copied = await store.load_history(await store.locate(child))
    assert copied.meta.id == child
    assert [line.event_type for line in copied.lines][-1] == "turn_aborted"


async def test_archive_unarchive_delete(store: PostgresThreadStore, tmp_path: Path) -> None:
    tid, path = await write_rollout(tmp_path / "elsewhere")
    (imported,) = (await import_rollouts(store, [path])).imported
    assert imported == tid
    row = await store.archive(tid)
    assert row.archived and row.rollout_path.parent.name == "archived_sessions"
    assert [r.id for r in (await store.list(ListQuery(archived=True))).records] == [tid]
    assert (await store.list(ListQuery())).records == []
    with pytest.raises(StoreError, match="already archived"):
        await store.archive(tid)
    back = await store.unarchive(tid)
    assert not back.archived and back.rollout_path.parent.parent.parent.parent.name == "sessions"
    assert await store.delete_thread(tid) == 1
    assert await store.get(tid) is None
    with pytest.raises(StoreError):
        await store.locate(tid)
    assert await store.delete_thread(tid) == 0


async def test_migrations_are_recorded_once_and_a_newer_schema_is_refused(
    url: str, tmp_path: Path
) -> None:
    stores = [PostgresThreadStore(url, tmp_path / "h") for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))  # racing servers migrate once
    for s in stores:
        await s.close()
    with psycopg.connect(url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM tl_schema ORDER BY version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        indexes = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'tl_threads'"
        )}
        assert {"tl_threads_created", "tl_threads_updated"} <= indexes
        trgm = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if trgm.fetchone() is not None:  # the Debian package ships it
            assert {"tl_threads_name_trgm", "tl_threads_preview_trgm"} <= indexes
        conn.execute("INSERT INTO tl_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    newer = PostgresThreadStore(url, tmp_path / "h")
    with pytest.raises(StoreError, match="newer than this threadline understands"):
        await newer.list(ListQuery())
    await newer.close()


async def test_one_lease_per_thread_across_stores_and_a_lost_session_frees_it(
    url: str, tmp_path: Path
) -> None:
    a = PostgresThreadStore(url, tmp_path / "a")
    b = PostgresThreadStore(url, tmp_path / "b")
    tid = new_thread_id()
    lease = a.lock_thread(tid)
    assert lease.held
    with pytest.raises(ThreadInUse) as refused:
        b.lock_thread(tid)
    assert refused.value.pid == os.getpid()
    with pytest.raises(ThreadInUse):
        a.lock_thread(tid)  # the same process asking twice
    lease.release()
    assert not lease.held
    taken = b.lock_thread(tid)
    with pytest.raises(ThreadInUse):
        a.lock_thread(tid)
    # The holder's database session ends (a crash, a partition the keepalives ended):
    # its lease is gone at once, and it can tell.
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'threadline-leases' AND pid <> pg_backend_pid()"
        )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            again = a.lock_thread(tid)
            break
        except (ThreadInUse, StoreError):
            await asyncio.sleep(0.1)
    else:
        pytest.fail("the lease was not freed when its session ended")
    assert again.held
    # b's lease connection was terminated too; it notices on its next lease operation.
    with pytest.raises((ThreadInUse, StoreError)):
        b.lock_thread(tid)
    assert not taken.held
    again.release()
    await a.close()
    await b.close()


async def test_an_unreachable_database_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql://postgres@/nowhere?host={tmp_path}/nosock&connect_timeout=1"
    store = PostgresThreadStore(url, tmp_path / "h", pool_timeout_s=1.5)
    started = time.monotonic()
    with pytest.raises(StoreError, match="the thread database is unavailable"):
        await store.list(ListQuery())
    assert time.monotonic() - started < 10
    assert (await store.problem() or "").startswith("the thread database is unavailable")
    await store.close()


async def test_import_export_roundtrip_keeps_every_line(
    store: PostgresThreadStore, tmp_path: Path
) -> None:
    source_home = tmp_path / "codex-home"
    tid, path = await write_rollout(source_home, turns=2, text="import me")
    report = await import_rollouts(store, [path, path, tmp_path / "missing.jsonl"])
    assert report.imported == [tid]
    assert report.skipped[0][1].endswith(f"thread {tid} is already in the database")
    assert "not a regular file" in report.skipped[1][1]
    row = await store.get(tid)
    expected = record_from_rollout(path)
    assert row is not None and expected is not None
    assert replace(row, rollout_path=expected.rollout_path) == replace(
        expected, cwd=row.cwd, preview=row.preview
    )
    exported = await export_thread(store, tid)
    assert exported.file_name == path.name
    original = [json.loads(x) for x in path.read_text().splitlines()]
    assert [json.loads(x) for x in exported.text.splitlines()] == original


async def test_migrate_home_moves_live_and_archived_threads_with_names(
    store: PostgresThreadStore, tmp_path: Path
) -> None:
    home = tmp_path / "old-home"
    ids = []
    for n in range(3):
        tid, _ = await write_rollout(home, created=BASE_TIME + timedelta(minutes=n), text=f"t{n}")
        ids.append(tid)
    archived_id, archived_path = await write_rollout(home, text="old one")
    (home / "archived_sessions").mkdir()
    archived_path.rename(home / "archived_sessions" / archived_path.name)
    (home / "session_index.jsonl").write_text(
        json.dumps({"id": ids[0], "thread_name": "first name", "updated_at": "x"}) + "\n"
    )
    local = LocalThreadStore(home, backfill=False)
    goal = GoalRecord(ids[1], "g1", "ship it", "active", 500, 20, 3, 1000, 2000)
    await local.state.put_goal(goal)
    await local.state.put_section(SectionRecord("s1", "Work", {"color": "red"}))
    await local.state.move(ids[0], "s1", None, now_ms=5)
    await local.state.move(ids[2], "s1", ids[0], now_ms=6)
    attachment = AttachmentRecord("a1", ids[2], "file", "k1", {"path": "/x"}, 7)
    await local.state.add_attachment(attachment)
    await local.state.edit_git(ids[0], {"branch": "feature"})
    await local.close()
    report = await migrate_home(store, home)
    assert sorted(report.imported) == sorted([*ids, archived_id]) and report.skipped == []
    listed = (await store.list(ListQuery(sort_key="created_at"))).records
    assert [r.id for r in listed] == ids[::-1]
    assert listed[-1].name == "first name"
    assert [r.id for r in (await store.list(ListQuery(archived=True))).records] == [archived_id]
    assert await store.state.goal(ids[1]) == goal
    assert (await store.state.section("s1")) == SectionRecord("s1", "Work", {"color": "red"})
    assert await store.state.section_members("s1") == [ids[2], ids[0]]
    assert (await store.state.attachments(ids[2], 10, None)).items == [attachment]
    row = await store.get(ids[0])
    assert row is not None and row.git is not None and row.git.branch == "feature"
    again = await migrate_home(store, home)  # idempotent: everything is already there
    assert again.imported == [] and len(again.skipped) == 4


def test_cli_migrate_list_and_export(url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    old = tmp_path / "old"
    tid, path = asyncio.run(write_rollout(old, text="from the cli"))
    env = {**os.environ, "THREADLINE_HOME": str(home), "THREADLINE_STORE_URL": url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "threadline", *args], env=env, capture_output=True,
            text=True, timeout=60, check=False,
        )

    migrated = run("store", "migrate", "--from-home", str(old))
    assert migrated.returncode == 0, migrated.stderr
    assert f"imported {tid}" in migrated.stdout
    listed = run("threads", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert tid in listed.stdout and "from the cli" in listed.stdout
    out = tmp_path / "exported.jsonl"
    exported = run("threads", "export", tid, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert out.read_text().splitlines() == path.read_text().splitlines()
    nested = tmp_path / "sessions" / "2027" / "01" / "02" / "exported.jsonl"
    made = run("threads", "export", tid, "--out", str(nested))
    assert made.returncode == 0, made.stderr
    assert nested.read_text().splitlines() == path.read_text().splitlines()
    blocked = run("threads", "export", tid, "--out", str(out / "below-a-file.jsonl"))
    assert blocked.returncode == 1
    assert f"cannot write {out / 'below-a-file.jsonl'}" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    refused = run("threads", "import", str(path))
    assert refused.returncode == 1 and "already in the database" in refused.stderr
    env["THREADLINE_STORE_URL"] = ""  # the local store: nothing to migrate into
    local = run("store", "migrate", "--from-home", str(old))
    assert local.returncode == 1 and "fills the PostgreSQL store" in local.stderr


async def test_a_history_without_its_row_is_repaired(store: PostgresThreadStore, url: str) -> None:
    tid = new_thread_id()
    sink = store.create_thread(_meta(tid), extended_history=False, fsync=False)
    await sink.append([
        EventMsg(type="task_started", turn_id="t1", model_context_window=1000),
        EventMsg(type="user_message", message="lost row", images=[]),
        EventMsg(type="thread_name_updated", thread_id=tid, thread_name="still named"),
    ])
    await sink.close()
    first = await store.get(tid, repair=False)
    assert first is None  # nothing wrote the row here (the server's IndexKeeper does)
    stored = await store.get(tid)
    assert stored is not None
    await store.upsert(replace(stored, id=new_thread_id()))  # a row that outlived its history
    with psycopg.connect(url, autocommit=True) as conn:  # the owner died between the writes
        conn.execute("DELETE FROM tl_threads WHERE id = %s", (tid,))
    assert await store.get(tid, repair=False) is None
    report = await store.reindex()
    assert (report.indexed, report.skipped, report.removed) == (1, 0, 1)
    [row] = (await store.list(ListQuery())).records
    assert (row.id, row.preview, row.name, row.cwd) == (tid, "lost row", "still named", "/work/project")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM tl_threads WHERE id = %s", (tid,))
    repaired = await store.get(tid)
    assert repaired is not None and repaired.preview == "lost row"


async def test_a_database_restart_is_survived_and_lost_leases_are_noticed(tmp_path: Path) -> None:
    cluster = start_cluster()
    if cluster is None:
        pytest.skip("PostgreSQL is not installed")
    try:
        store = PostgresThreadStore(cluster.new_database("restart"), tmp_path / "h")
        tid, path = await write_rollout(tmp_path / "src")
        await import_rollouts(store, [path])
        lease = store.lock_thread(tid)
        assert lease.held
        await asyncio.to_thread(cluster.restart)
        # The pool replaces its broken connections: the next request is served.
        assert [r.id for r in (await store.list(ListQuery())).records] == [tid]
        assert not lease.held  # the lease went with the old session, and it says so
        again = store.lock_thread(tid)
        assert again.held
        again.release()
        await store.close()
    finally:
        cluster.stop()


REFERENCE_HOME = Path("/work/shared/reference/codex-0.169.0/rollouts")


async def test_a_real_codex_home_migrates_and_reads_as_the_local_store_reads_it(
    store: PostgresThreadStore, tmp_path: Path
) -> None:
    if not (REFERENCE_HOME / "sessions").is_dir():
        pytest.skip("the Codex 0.169 reference rollouts are not here")
    home = tmp_path / "codex-home"
    shutil.copytree(REFERENCE_HOME, home, symlinks=True)
    report = await migrate_home(store, home)
    assert report.skipped == [] and len(report.imported) >= 10
    async with LocalThreadStore(home) as local:
        want = (await local.list(ListQuery(limit=100))).records
        got = (await store.list(ListQuery(limit=100))).records
        assert [(r.id, r.name, r.preview, r.created_at_ms) for r in got] == [
            (r.id, r.name, r.preview, r.created_at_ms) for r in want
        ]
        for thread_id in report.imported:
            theirs = await local.load_history(await local.locate(thread_id))
            ours = await store.load_history(await store.locate(thread_id))
            assert ours.recon.turns == theirs.recon.turns, thread_id
            assert ours.recon.history == theirs.recon.history, thread_id


async def test_an_owner_that_lost_its_lease_cannot_append_after_a_takeover(
    url: str, tmp_path: Path
) -> None:
    a = PostgresThreadStore(url, tmp_path / "a")
    b = PostgresThreadStore(url, tmp_path / "b")
    tid = new_thread_id()
    lease = a.lock_thread(tid)
    sink = a.create_thread(_meta(tid), extended_history=False, fsync=False)
    await sink.append([EventMsg(type="user_message", message="from a", images=[])])
    with psycopg.connect(url, autocommit=True) as admin:  # a's lease session dies
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'threadline-leases'"
        )
    # Until someone takes the thread, a keeps storing it.
    await sink.append([EventMsg(type="agent_message", message="a still owns it")])
    taken = b.lock_thread(tid)
    stored = await b.load_history(await b.locate(tid))
    resumed = await b.resume_thread(stored, extended_history=False, fsync=False)
    with pytest.raises(StoreError, match="was taken over by another server"):
        await sink.append([EventMsg(type="agent_message", message="stale write")])
    await resumed.append([EventMsg(type="agent_message", message="b's answer")])
    await resumed.close()
    lines = (await b.load_history(await b.locate(tid))).lines
    messages = [line.payload.get("message") for line in lines if line.type == "event_msg"]
    assert messages == ["from a", "a still owns it", "b's answer"]
    assert not lease.held
    taken.release()
    await a.close()
    await b.close()
