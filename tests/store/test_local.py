"""LocalThreadStore on real files: rows from rollouts, repair, archive, reindex, backfill."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from tests.store._rollouts import BASE_TIME, write_rollout

from threadline.protocol.rollout import GitInfo
from threadline.rollout.paths import new_thread_id
from threadline.store import (
    ListQuery,
    LocalThreadStore,
    StoreError,
    StoreThreadNotFound,
    read_session_names,
)
from threadline.store.records import read_tail_summary

REF = Path("/work/shared/reference/codex-0.169.0")


def _copy_reference_home(target: Path) -> Path:
    shutil.copytree(REF / "rollouts" / "sessions", target / "sessions")
    shutil.copy(REF / "rollouts" / "session_index.jsonl", target / "session_index.jsonl")
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


async def test_row_is_built_from_the_rollout_head_and_tail(tmp_path: Path) -> None:
    git = GitInfo(commit_hash="abc123", branch="main", repository_url="https://example.invalid/r.git")
    thread_id, path = await write_rollout(
        tmp_path, text="## My request for Codex:\n  Fix the parser  ", turns=3, tokens=100,
        source="exec", provider="ollama", git=git, model="qwen-test",
    )
    async with LocalThreadStore(tmp_path) as store:
        await store.wait_ready()
        record = await store.get(thread_id)
    assert record is not None
    assert record.rollout_path == path
    assert record.preview == "Fix the parser"  # environment context skipped, request marker stripped
    assert record.tokens_used == 300  # newest token_count total
    assert record.model == "qwen-test"
    assert (record.source, record.model_provider, record.cwd) == ("exec", "ollama", "/work/project")
    assert record.git is not None and record.git.sha == "abc123" and record.git.branch == "main"
    assert record.created_at_ms == int(BASE_TIME.timestamp() * 1000)
    assert record.updated_at_ms >= record.created_at_ms
    assert not record.archived


async def test_first_start_backfill_indexes_existing_rollouts_while_serving(tmp_path: Path) -> None:
    ids = [
        (await write_rollout(tmp_path, created=BASE_TIME + timedelta(seconds=i), text=f"t{i}"))[0]
        for i in range(30)
    ]
    store = LocalThreadStore(tmp_path)
    try:
        await store.open()
        assert store.index.created
        # Requests are answered while the backfill runs; the newest rollouts are indexed
        # first, so the default newest-first page is already complete.
        page = await store.list(ListQuery(limit=5))
        assert [r.id for r in page.records] == list(reversed(ids))[:5]
        report = await store.wait_ready()
        assert report is not None and report.indexed == 30 and report.skipped == 0
        page = await store.list(ListQuery(limit=100))
        assert {r.id for r in page.records} == set(ids)
    finally:
        await store.close()
    # A second start finds a populated index and does not backfill again.
    async with LocalThreadStore(tmp_path) as again:
        assert not again.index.created
        assert await again.wait_ready() is None


async def test_missing_row_is_repaired_from_the_rollout(tmp_path: Path) -> None:
    async with LocalThreadStore(tmp_path) as store:
        await store.wait_ready()
        thread_id, path = await write_rollout(tmp_path, text="made while the index was not told")
        assert await store.get(thread_id, repair=False) is None
        assert await store.find_rollout(thread_id) == path
        record = await store.get(thread_id, repair=False)
        assert record is not None and record.preview == "made while the index was not told"


async def test_stale_row_pointing_at_a_moved_file_is_repaired(tmp_path: Path) -> None:
    thread_id, path = await write_rollout(tmp_path)
    async with LocalThreadStore(tmp_path) as store:
        await store.wait_ready()
        # Someone else (e.g. Codex on a shared home) archives the file behind our back.
        moved = tmp_path / "archived_sessions" / path.name
        moved.parent.mkdir()
        os.replace(path, moved)
        record = await store.get(thread_id)
        assert record is not None
        assert record.rollout_path == moved and record.archived
        # And a row whose file vanished entirely is dropped.
        moved.unlink()
        assert await store.get(thread_id) is None
        assert await store.get(thread_id, repair=False) is None


async def test_unknown_and_invalid_ids(tmp_path: Path) -> None:
    async with LocalThreadStore(tmp_path) as store:
        assert await store.get(new_thread_id()) is None
        assert await store.get("not-a-uuid") is None
        assert await store.get("../../etc/passwd") is None
        assert await store.find_rollout(new_thread_id()) is None
        with pytest.raises(StoreThreadNotFound):
            await store.archive(new_thread_id())
        with pytest.raises(StoreThreadNotFound):
            await store.set_name(new_thread_id(), "x")


async def test_archive_and_unarchive_move_the_file(tmp_path: Path) -> None:
    thread_id, path = await write_rollout(tmp_path)
    content = path.read_bytes()
    async with LocalThreadStore(tmp_path) as store:
        await store.wait_ready()
        archived = await store.archive(thread_id)
        target = tmp_path / "archived_sessions" / path.name
        assert archived.rollout_path == target and archived.archived
        assert archived.archived_at_ms is not None
        assert not path.exists() and target.read_bytes() == content
        assert [r.id for r in (await store.list(ListQuery(archived=True))).records] == [thread_id]
        assert (await store.list(ListQuery())).records == []
        with pytest.raises(StoreError):
            await store.archive(thread_id)

        back = await store.unarchive(thread_id)
        assert back.rollout_path == path and not back.archived and back.archived_at_ms is None
        assert path.read_bytes() == content and not target.exists()
        assert abs(path.stat().st_mtime * 1000 - back.updated_at_ms) < 5
        assert [r.id for r in (await store.list(ListQuery())).records] == [thread_id]
        with pytest.raises(StoreError):
            await store.unarchive(thread_id)


async def test_names_survive_a_reindex(tmp_path: Path) -> None:
    thread_id, _ = await write_rollout(tmp_path)
    other, _ = await write_rollout(tmp_path, created=BASE_TIME + timedelta(seconds=5))
    async with LocalThreadStore(tmp_path) as store:
        await store.wait_ready()
        await store.set_name(thread_id, "First name")
        await store.set_name(thread_id, "Better name")
        await store.set_name(other, "Temporary")
        await store.set_name(other, None)
        await store.set_memory_mode(thread_id, "disabled")
        assert read_session_names(tmp_path) == {thread_id: "Better name", other: None}
        report = await store.reindex()
        assert report.indexed == 2
        named = await store.get(thread_id)
        assert named is not None and named.name == "Better name"
        cleared = await store.get(other)
        assert cleared is not None and cleared.name is None
        page = await store.list(ListQuery(search_term="better"))
        assert [r.id for r in page.records] == [thread_id]
    lines = (tmp_path / "session_index.jsonl").read_text().splitlines()
    assert [json.loads(x)["thread_name"] for x in lines] == ["First name", "Better name", "Temporary", None]


async def test_reindex_rebuilds_rows_and_drops_vanished_threads(tmp_path: Path) -> None:
    kept, _ = await write_rollout(tmp_path, text="kept")
    _gone, gone_path = await write_rollout(tmp_path, created=BASE_TIME + timedelta(seconds=1))
    async with LocalThreadStore(tmp_path) as store:
        await store.wait_ready()
        gone_path.unlink()
        # A garbage file and a file without any user message are skipped, not fatal.
        day = gone_path.parent
        (day / f"rollout-2026-03-01T12-00-09-{new_thread_id()}.jsonl").write_text("not json\n")
        _, empty = await write_rollout(tmp_path, created=BASE_TIME + timedelta(seconds=2), turns=0)
        assert not empty.exists()  # lazy materialisation: no user message, no file
        report = await store.reindex()
        assert (report.indexed, report.skipped, report.removed) == (1, 1, 1)
        assert [r.id for r in (await store.list(ListQuery())).records] == [kept]


async def test_torn_last_line_is_tolerated(tmp_path: Path) -> None:
    thread_id, path = await write_rollout(tmp_path, turns=2, tokens=40)
    with path.open("ab") as handle:
        handle.write(b'{"timestamp":"2026-03-01T12:00:09.000Z","type":"event_msg","payload":{"type":"tok')
    summary = read_tail_summary(path)
    assert summary.tokens_used == 80
    async with LocalThreadStore(tmp_path) as store:
        report = await store.wait_ready()
        assert report is not None and report.indexed == 1
        record = await store.get(thread_id)
        assert record is not None and record.tokens_used == 80 and record.preview == "hello there"


async def test_tail_scan_is_bounded_for_big_files(tmp_path: Path) -> None:
    _thread_id, path = await write_rollout(tmp_path, tokens=None)
    with path.open("ab") as handle:
        filler = json.dumps({"timestamp": "2026-03-01T12:00:09.000Z", "type": "event_msg",
                             "payload": {"type": "agent_message", "message": "x" * 50_000}})
        for _ in range(100):  # 5 MB without any token_count
            handle.write(filler.encode() + b"\n")
    summary = read_tail_summary(path, max_bytes=1 << 20)
    assert summary.tokens_used is None


async def test_reference_codex_home_is_indexed(tmp_path: Path) -> None:
    home = _copy_reference_home(tmp_path / "codex")
    threads = json.loads((REF / "scenario-threads.json").read_text())
    async with LocalThreadStore(home) as store:
        report = await store.wait_ready()
        assert report is not None and report.indexed == 12  # the trimmed s10 file is not a rollout
        rows = {r.id: r for r in (await store.list(ListQuery(limit=100))).records}
    # Compare with the rows Codex itself kept in state_5.sqlite.
    codex_rows = json.loads((REF / "state_5-rows.json").read_text())["threads"]
    codex_rows = codex_rows if isinstance(codex_rows, list) else codex_rows["rows"]
    assert {r["id"] for r in codex_rows} == set(rows)
    for theirs in codex_rows:
        ours = rows[theirs["id"]]
        assert ours.preview == theirs["preview"]
        assert ours.tokens_used == theirs["tokens_used"]
        assert ours.name == theirs["name"]
        assert abs(ours.created_at_ms - theirs["created_at_ms"]) <= 1
        assert ours.source == theirs["source"]
    assert rows[threads["s05_fork"]].forked_from_id == threads["s01_thread"]
    assert rows[threads["s01_thread"]].forked_from_id is None


async def test_index_file_is_only_a_cache(tmp_path: Path) -> None:
    thread_id, _ = await write_rollout(tmp_path)
    async with LocalThreadStore(tmp_path) as store:
        await store.wait_ready()
    (tmp_path / "state.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"state.sqlite{suffix}").unlink(missing_ok=True)
    async with LocalThreadStore(tmp_path) as store:
        await store.wait_ready()
        assert [r.id for r in (await store.list(ListQuery())).records] == [thread_id]
    conn = sqlite3.connect(tmp_path / "state.sqlite")
    try:
        assert conn.execute("SELECT preview FROM threads").fetchone() == ("hello there",)
    finally:
        conn.close()


async def test_backfill_never_overwrites_rows_written_meanwhile(tmp_path: Path) -> None:
    thread_id, _ = await write_rollout(tmp_path, text="from the file")
    async with LocalThreadStore(tmp_path, backfill=False) as store:
        assert await store.wait_ready() is None  # backfill disabled: nothing indexed yet
        assert (await store.list(ListQuery())).records == []
        fresh = await store.get(thread_id)
        assert fresh is not None
        live = replace(fresh, preview="what core wrote", tokens_used=999)
        await store.upsert(live)
        stale = replace(fresh, preview="an older head")
        assert await store.index.upsert_many([stale], only_missing=True) == 0
        got = await store.get(thread_id, repair=False)
        assert got is not None and got.preview == "what core wrote" and got.tokens_used == 999
        # A full reindex, by contrast, rebuilds from the file.
        await store.reindex()
        rebuilt = await store.get(thread_id, repair=False)
        assert rebuilt is not None and rebuilt.preview == "from the file"


async def test_memory_store_archive_round_trip(tmp_path: Path) -> None:
    from threadline.store import MemoryThreadStore

    thread_id, path = await write_rollout(tmp_path)
    async with LocalThreadStore(tmp_path) as local:
        await local.wait_ready()
        record = await local.get(thread_id)
    assert record is not None
    store = MemoryThreadStore(tmp_path)
    await store.upsert(record)
    archived = await store.archive(thread_id)
    assert archived.rollout_path == tmp_path / "archived_sessions" / path.name
    assert path.exists()  # nothing on disk is touched
    assert (await store.list(ListQuery(archived=True))).records == [archived]
    back = await store.unarchive(thread_id)
    assert back.rollout_path == path and not back.archived
    await store.set_name(thread_id, "n")
    assert (await store.list(ListQuery(search_term="N"))).records[0].name == "n"
    with pytest.raises(StoreThreadNotFound):
        await store.set_memory_mode(new_thread_id(), "enabled")
    assert (await store.reindex()).indexed == 1


async def test_deleting_only_the_database_file_ignores_its_stale_wal(tmp_path: Path) -> None:
    thread_id, _ = await write_rollout(tmp_path)
    store = LocalThreadStore(tmp_path)
    await store.wait_ready()
    await store.set_name(thread_id, "named")
    # Delete the database while its WAL still holds committed pages (store not closed yet).
    (tmp_path / "state.sqlite").unlink()
    await store.close()
    async with LocalThreadStore(tmp_path) as again:
        report = await again.wait_ready()
        assert report is not None and report.indexed == 1
        record = await again.get(thread_id)
        assert record is not None and record.name == "named"  # from session_index.jsonl
        assert again.index.created
