"""Things that are not rollouts but carry a rollout's name: FIFOs, sockets, device nodes,
directories and symbolic links under ``sessions/``. Discovery, indexing and look-up by id
never open (or follow) them, and the open helpers refuse them without blocking."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.store._rollouts import BASE_TIME, write_rollout

from threadline.rollout.files import (
    NotRegularFileError,
    open_regular,
    open_regular_append,
    rollout_file_problem,
)
from threadline.rollout.paths import (
    find_rejected_rollout,
    find_rollout_path,
    iter_rollout_files,
    new_thread_id,
    rollout_path_for,
)
from threadline.store import ListQuery, LocalThreadStore

Maker = Callable[[Path], None]


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inner.jsonl").write_text("{}\n")


def _socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.chdir(path.parent):  # a relative name: socket paths are limited to 108 bytes
        server.bind(path.name)
    _SOCKETS.append(server)


def _char_device(path: Path) -> None:
    # The same device as /dev/null; creating a node needs root (CAP_MKNOD), as in CI.
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))


_SOCKETS: list[socket.socket] = []

KINDS: dict[str, Maker] = {
    "fifo": _fifo,
    "directory": _directory,
    "socket": _socket,
    "char-device": _char_device,
}


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _SOCKETS:
        _SOCKETS.pop().close()


def _hostile_path(home: Path) -> tuple[str, Path]:
    thread_id = new_thread_id()
    path = rollout_path_for(home, thread_id, BASE_TIME)
    path.parent.mkdir(parents=True, exist_ok=True)
    return thread_id, path


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_non_regular_rollout_names_are_never_indexed_or_located(
    tmp_path: Path, kind: str
) -> None:
    good_id, _good = await write_rollout(tmp_path, text="the only real rollout")
    bad_id, bad = _hostile_path(tmp_path)
    KINDS[kind](bad)

    assert [p.name for p in iter_rollout_files(tmp_path)] == [_good.name]
    assert find_rollout_path(tmp_path, bad_id) is None
    assert find_rejected_rollout(tmp_path, bad_id) == bad
    assert find_rejected_rollout(tmp_path, good_id) is None
    problem = rollout_file_problem(bad)
    assert problem is not None and "not a regular file" in problem

    async with LocalThreadStore(tmp_path) as store:
        # The first-start backfill and a full reindex finish (a FIFO would hang an open()).
        report = await asyncio.wait_for(store.wait_ready(), 10)
        assert report is not None and report.indexed == 1
        report = await asyncio.wait_for(store.reindex(), 10)
        assert (report.indexed, report.skipped) == (1, 0)
        page = await store.list(ListQuery(limit=10))
        assert [r.id for r in page.records] == [good_id]
        assert await asyncio.wait_for(store.get(bad_id), 10) is None
        assert await store.find_rollout(bad_id) is None


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_open_helpers_refuse_without_blocking(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "rollout-x.jsonl"
    KINDS[kind](target)
    with pytest.raises(NotRegularFileError, match="not a regular file"):
        open_regular(target)
    with pytest.raises(NotRegularFileError, match="not a regular file"):
        open_regular_append(target)
    with pytest.raises(NotRegularFileError, match="not a regular file"):
        open_regular_append(target, create=True, readable=True)


def test_open_helpers_refuse_symbolic_links_and_read_regular_files(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"secret\n")
    link = tmp_path / "rollout-link.jsonl"
    link.symlink_to(outside)
    with pytest.raises(NotRegularFileError, match="symbolic link"):
        open_regular(link)
    with pytest.raises(NotRegularFileError, match="symbolic link"):
        open_regular_append(link, create=True)
    assert outside.read_bytes() == b"secret\n"
    problem = rollout_file_problem(link)
    assert problem is not None and "symbolic link" in problem and str(outside) in problem

    with open_regular(outside) as handle:
        assert handle.read() == b"secret\n"
    with open_regular_append(outside) as handle:
        handle.write(b"more\n")
    created = tmp_path / "new.jsonl"
    with open_regular_append(created, create=True, readable=True) as handle:
        handle.write(b"one\n")
        handle.seek(0)
        assert handle.read() == b"one\n"
    assert outside.read_bytes() == b"secret\nmore\n"
    assert rollout_file_problem(outside) is None
    assert rollout_file_problem(tmp_path / "missing.jsonl") == "no such file"


async def test_symlinked_rollout_is_not_followed_by_discovery_or_the_index(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A real rollout, written outside the home, then linked in under a rollout name.
    thread_id, real = await write_rollout(elsewhere, text="lives outside the home")
    link = home / real.relative_to(elsewhere)
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    before = real.read_bytes()

    assert iter_rollout_files(home) == []
    assert find_rollout_path(home, thread_id) is None
    assert find_rejected_rollout(home, thread_id) == link
    async with LocalThreadStore(home) as store:
        await asyncio.wait_for(store.wait_ready(), 10)
        assert (await store.list(ListQuery(limit=10))).records == []
        assert await store.get(thread_id) is None
    assert real.read_bytes() == before


async def test_index_row_whose_file_became_a_symlink_is_dropped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    thread_id, path = await write_rollout(home, text="was a regular file")
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(path.read_bytes())
    async with LocalThreadStore(home) as store:
        await store.wait_ready()
        assert await store.get(thread_id) is not None
        path.unlink()
        path.symlink_to(outside)
        # The row no longer names a regular file: it is repaired, i.e. dropped.
        assert await store.get(thread_id) is None
        assert await store.get(thread_id, repair=False) is None
        assert await store.find_rollout(thread_id) is None


async def test_symlinked_date_directory_pointing_outside_is_not_followed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    thread_id, real = await write_rollout(elsewhere, text="in a linked directory")
    day = real.parent.relative_to(elsewhere)
    (home / day.parent).mkdir(parents=True)
    (home / day).symlink_to(real.parent, target_is_directory=True)

    assert iter_rollout_files(home) == []
    assert find_rollout_path(home, thread_id) is None
    async with LocalThreadStore(home) as store:
        await store.wait_ready()
        assert await store.get(thread_id) is None
