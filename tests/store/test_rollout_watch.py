"""``store/rollout_watch.py``: the inotify-narrowed look ``LocalThreadStore.list`` uses to
notice rollouts another program appended to. Real files, real inotify: every change made
here behind the watch's back must be found, and the looks that follow a quiet spell must
not ``stat`` every rollout again."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from threadline.store.rollout_watch import AppendWatch, Inotify

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")

Rows = list[tuple[str, str, int]]


def _home(root: Path, per_dir: int = 10, dirs: int = 3) -> Rows:
    rows: Rows = []
    for d in range(dirs):
        day = root / "sessions" / "2026" / "12" / f"{d + 1:02d}"
        day.mkdir(parents=True)
        for n in range(per_dir):
            path = day / f"rollout-2026-12-{d + 1:02d}T00-00-00-t{d}-{n}.jsonl"
            path.write_text('{"type":"session_meta"}\n', encoding="utf-8")
            rows.append((f"t{d}-{n}", str(path), 0))
    return rows


def _look(watch: AppendWatch, rows: Rows, known: dict[str, tuple[int, int]]) -> list[str]:
    changed, seen = watch.look(rows, known)
    known.update(seen)
    return sorted(changed)


@pytest.fixture
def watch() -> AppendWatch:
    if Inotify.open() is None:
        pytest.skip("no inotify here")
    return AppendWatch()


def test_after_the_first_look_only_reported_rollouts_are_statted(
    tmp_path: Path, watch: AppendWatch
) -> None:
    rows = _home(tmp_path)
    known: dict[str, tuple[int, int]] = {}
    _look(watch, rows, known)
    assert watch.statted == len(rows)  # the first look sees everything, once
    assert _look(watch, rows, known) == []
    assert watch.statted == 0
    # Another program appends to one rollout and touches another's mtime.
    with open(rows[4][1], "a", encoding="utf-8") as f:
        f.write('{"type":"event_msg"}\n')
    os.utime(rows[17][1], (1_900_000_000, 1_900_000_000))
    assert _look(watch, rows, known) == sorted([rows[4][0], rows[17][0]])
    assert watch.statted == 2
    assert _look(watch, rows, known) == []
    assert watch.statted == 0
    watch.close()


def test_a_rollout_replaced_by_rename_is_noticed(tmp_path: Path, watch: AppendWatch) -> None:
    rows = _home(tmp_path, per_dir=3, dirs=1)
    known: dict[str, tuple[int, int]] = {}
    _look(watch, rows, known)
    target = Path(rows[1][1])
    spare = target.with_name("tmp-rewrite")
    spare.write_text(target.read_text(encoding="utf-8") + '{"more":1}\n', encoding="utf-8")
    os.replace(spare, target)
    assert _look(watch, rows, known) == [rows[1][0]]
    watch.close()


def test_new_rows_and_new_directories_are_looked_at_then_watched(
    tmp_path: Path, watch: AppendWatch
) -> None:
    rows = _home(tmp_path, per_dir=4, dirs=1)
    known: dict[str, tuple[int, int]] = {}
    _look(watch, rows, known)
    # A thread indexed later, in a directory the watch has not seen.
    day = tmp_path / "sessions" / "2026" / "12" / "09"
    day.mkdir(parents=True)
    fresh = day / "rollout-2026-12-09T00-00-00-late.jsonl"
    fresh.write_text("{}\n", encoding="utf-8")
    rows = [*rows, ("late", str(fresh), 0)]  # the index changed: another list of rows
    _look(watch, rows, known)
    assert watch.statted == 1  # the new row; the others are vouched for
    with fresh.open("a", encoding="utf-8") as f:
        f.write("{}\n")
    assert _look(watch, rows, known) == ["late"]
    assert watch.statted == 1
    watch.close()


def test_a_directory_removed_and_made_again_is_watched_anew(
    tmp_path: Path, watch: AppendWatch
) -> None:
    rows = _home(tmp_path, per_dir=3, dirs=2)
    known: dict[str, tuple[int, int]] = {}
    _look(watch, rows, known)
    day = Path(rows[0][1]).parent
    shutil.rmtree(day)
    day.mkdir()
    for _tid, path, _ in rows[:3]:
        Path(path).write_text('{"type":"session_meta"}\n{"again":true}\n', encoding="utf-8")
    assert _look(watch, rows, known) == sorted(tid for tid, _, _ in rows[:3])
    assert _look(watch, rows, known) == []
    with open(rows[2][1], "a", encoding="utf-8") as f:
        f.write("{}\n")
    assert _look(watch, rows, known) == [rows[2][0]]  # the new directory's watch works
    watch.close()


def test_an_overflowed_event_queue_means_a_full_look(tmp_path: Path, watch: AppendWatch) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 200_000:
        pytest.skip(f"an event queue of {limit} is too long to overflow here")
    rows = _home(tmp_path, per_dir=5, dirs=1)
    known: dict[str, tuple[int, int]] = {}
    _look(watch, rows, known)
    day = Path(rows[0][1]).parent
    with open(rows[3][1], "a", encoding="utf-8") as f:
        f.write("{}\n")
    for n in range(limit // 2 + 1_000):  # a create and a close-write each: past the limit
        (day / f"noise-{n}").touch()
    assert _look(watch, rows, known) == [rows[3][0]]
    assert watch.statted == len(rows)
    watch.close()


def test_a_full_look_comes_every_interval_in_any_case(tmp_path: Path) -> None:
    rows = _home(tmp_path, per_dir=4, dirs=2)
    watch = AppendWatch(full_sweep_interval_s=0.0)  # a full look every time
    known: dict[str, tuple[int, int]] = {}
    _look(watch, rows, known)
    with open(rows[6][1], "a", encoding="utf-8") as f:
        f.write("{}\n")
    assert _look(watch, rows, known) == [rows[6][0]]
    assert watch.statted == len(rows)
    watch.close()


def test_a_directory_that_cannot_be_watched_is_statted_every_time(
    tmp_path: Path, watch: AppendWatch
) -> None:
    rows = _home(tmp_path, per_dir=2, dirs=1)
    gone = str(tmp_path / "nowhere" / "rollout-x.jsonl")
    rows.append(("x", gone, 0))
    known: dict[str, tuple[int, int]] = {}
    _look(watch, rows, known)
    _look(watch, rows, known)
    assert watch.statted == 1  # the unwatchable one, each time (it does not exist: no change)
    watch.close()


async def test_the_store_lists_a_quiet_home_without_statting_and_sees_an_append(
    tmp_path: Path,
) -> None:
    """``LocalThreadStore.list`` through the watch: a list seconds after the last one looks
    at no rollout when nothing was written, and still puts a thread another program
    appended to first."""
    import asyncio
    import json
    from datetime import timedelta

    from tests.store._rollouts import BASE_TIME, stamp, write_rollout

    from threadline.store import ListQuery, LocalThreadStore

    if Inotify.open() is None:
        pytest.skip("no inotify here")
    home = tmp_path / "h"
    written = [
        await write_rollout(home, created=BASE_TIME + timedelta(hours=n), text=f"t{n}")
        for n in range(12)
    ]
    for n, (_tid, path) in enumerate(written):
        when = (BASE_TIME + timedelta(hours=n)).timestamp()
        os.utime(path, (when, when))
    store = LocalThreadStore(home, backfill=False)
    await store.reindex()
    query = ListQuery(sort_key="updated_at")
    first = await store.list(query)
    assert first.records[0].id == written[-1][0]
    rows = store._appends._rows  # the first look saved every size and mtime ...
    for _ in range(2):
        await asyncio.sleep(LocalThreadStore.RECHECK_INTERVAL_S)
        await store.list(query)
    assert store._appends.statted == 0
    assert store._appends._rows is rows  # ... and the index rows stayed a cached read
    old_id, old_path = written[0]
    later = BASE_TIME + timedelta(days=3)
    with old_path.open("a", encoding="utf-8") as f:
        line = {
            "timestamp": stamp(later),
            "type": "event_msg",
            "payload": {"type": "user_message", "message": "more", "images": []},
        }
        f.write(json.dumps(line) + "\n")
    os.utime(old_path, (later.timestamp(), later.timestamp()))
    await asyncio.sleep(LocalThreadStore.RECHECK_INTERVAL_S)
    second = await store.list(query)
    assert second.records[0].id == old_id
    assert second.records[0].updated_at_ms == int(later.timestamp() * 1000)
    assert store._appends.statted == 1
    await store.close()


def test_an_instance_dropped_without_close_gives_its_descriptor_back() -> None:
    import gc

    inotify = Inotify.open()
    if inotify is None:
        pytest.skip("no inotify here")
    fd = inotify.fd
    assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
    del inotify
    gc.collect()
    reused = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else None
    assert reused != "anon_inode:inotify"
    closing = Inotify.open()
    assert closing is not None
    closing.close()
    closing.close()  # twice is harmless
