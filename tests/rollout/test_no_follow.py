"""The rollout reader and writer open only regular files, never through a symbolic link.

A FIFO, socket, device node, directory or link can be put where a rollout was at
any moment (between discovery and the open). Every reader entry point answers at
once with an error (or nothing) instead of blocking on a FIFO or reading through a
link, and the writer refuses to append through a link, to a FIFO, or through a link
planted at its temporary file name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from tests.store._rollouts import usage, write_rollout

from threadline.protocol.rollout import EventMsg, HistoryBase, SessionMeta
from threadline.rollout.errors import RolloutReadError, RolloutWriteError
from threadline.rollout.files import NotRegularFileError
from threadline.rollout.paths import new_thread_id
from threadline.rollout.reader import read_head, read_rollout, read_tail_token_info
from threadline.rollout.writer import RolloutWriter, append_synced, append_to_rollout

T = TypeVar("T")

_PROMPT = 5.0


def _unblock_fifo(path: Path) -> None:
    """Open the write end of a FIFO once, so a reader stuck in ``open()`` returns."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def _promptly(fifo: Path, call: Callable[[], T]) -> T:
    """``call()`` in a thread; fails the test when it does not return within seconds
    (a blocked open of ``fifo`` is released afterwards, so no thread is left behind)."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(_PROMPT)
    if worker.is_alive():
        while worker.is_alive():
            _unblock_fifo(fifo)
            worker.join(0.1)
        pytest.fail(f"blocked on the FIFO {fifo} for more than {_PROMPT}s")
    if failure:
        raise failure[0]
    return outcome[0]


async def _real_rollout(tmp_path: Path) -> tuple[str, Path]:
    return await write_rollout(tmp_path / "elsewhere", text="a real rollout", tokens=321)


def test_reader_entry_points_do_not_block_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / f"rollout-2026-03-01T12-00-00-{new_thread_id()}.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(RolloutReadError, match="not a regular file: it is a FIFO"):
        _promptly(fifo, lambda: read_rollout(fifo))
    with pytest.raises(RolloutReadError, match="not a regular file: it is a FIFO"):
        _promptly(fifo, lambda: read_head(fifo))
    assert _promptly(fifo, lambda: read_tail_token_info(fifo)) is None


async def test_reader_entry_points_do_not_follow_a_link(tmp_path: Path) -> None:
    _thread_id, real = await _real_rollout(tmp_path)
    assert read_tail_token_info(real) is not None  # the target itself is readable
    link = tmp_path / real.name
    link.symlink_to(real)
    with pytest.raises(RolloutReadError, match="symbolic link"):
        read_rollout(link)
    with pytest.raises(RolloutReadError, match="symbolic link"):
        read_head(link)
    assert read_tail_token_info(link) is None


def _fork_of(directory: Path, parent_id: str) -> Path:
    """A paginated fork (no home around it) whose history starts in ``parent_id``'s file."""
    fork_id = new_thread_id()
    meta = SessionMeta(
        id=fork_id, timestamp="2026-03-01T12:00:00.000Z", cwd="/work", history_mode="paginated",
        history_base=HistoryBase(thread_id=parent_id, end_ordinal_exclusive=100),
    )
    line = {"timestamp": meta.timestamp, "type": "session_meta", "payload": meta.dump(),
            "ordinal": 0}
    path = directory / f"rollout-2026-03-01T12-00-01-{fork_id}.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
async def test_fork_base_beside_the_fork_must_be_a_regular_file(
    tmp_path: Path, kind: str
) -> None:
    parent_id, real = await _real_rollout(tmp_path)
    directory = tmp_path / "loose"
    directory.mkdir()
    base = directory / real.name
    if kind == "fifo":
        os.mkfifo(base)
    else:
        base.symlink_to(real)
    fork = _fork_of(directory, parent_id)

    read = _promptly(base, lambda: read_rollout(fork))
    assert read.missing_base == parent_id
    assert read.ancestors == []
    head = _promptly(base, lambda: read_head(fork))
    assert head.first_user_message is None

    # The same fork beside the regular parent file inherits its history.
    base.unlink()
    base.write_bytes(real.read_bytes())
    read = read_rollout(fork)
    assert read.missing_base is None and read.ancestors == [base]
    assert read_head(fork).first_user_message == "a real rollout"


def _event() -> EventMsg:
    return EventMsg(type="token_count", info=usage(7), rate_limits=None)


async def test_resumed_writer_refuses_a_link_to_another_file(tmp_path: Path) -> None:
    _thread_id, real = await _real_rollout(tmp_path)
    before = real.read_bytes()
    link = tmp_path / "sessions" / real.name
    link.parent.mkdir()
    link.symlink_to(real)

    writer = RolloutWriter.resume(link)
    await writer.open()  # not opened through the link, and not an error yet
    with pytest.raises(RolloutWriteError, match="symbolic link"):
        await writer.append([_event()])
    assert real.read_bytes() == before
    assert link.is_symlink()


async def test_new_writer_refuses_a_fifo_at_its_path(tmp_path: Path) -> None:
    thread_id = new_thread_id()
    path = tmp_path / f"rollout-2026-03-01T12-00-00-{thread_id}.jsonl"
    os.mkfifo(path)
    writer = RolloutWriter.create(path, SessionMeta(id=thread_id, cwd="/work"))
    with pytest.raises(RolloutWriteError, match="FIFO"):
        await writer.materialize()
    assert writer.lines_written == 0


async def test_file_moved_away_and_linked_back_is_recreated_in_place(tmp_path: Path) -> None:
    """While a writer holds its file, the file is moved outside and a link to it is put
    at the path: the link is moved aside and a regular file with the whole history takes
    its place; nothing is written through the link into the moved file any more."""
    thread_id, path = await write_rollout(tmp_path / "home", text="linked back")
    writer = RolloutWriter.resume(path)
    await writer.open()
    moved = tmp_path / "moved.jsonl"
    os.replace(path, moved)
    path.symlink_to(moved)
    moved_before = moved.read_bytes()

    await writer.append([_event()])
    await writer.close()
    assert not path.is_symlink() and path.is_file()
    assert path.read_bytes().startswith(moved_before)
    assert json.loads(path.read_bytes().splitlines()[-1])["payload"]["type"] == "token_count"
    assert writer.recreated == 1
    assert moved.read_bytes() == moved_before
    aside = [p for p in path.parent.iterdir() if ".replaced-" in p.name]
    assert len(aside) == 1 and aside[0].is_symlink()
    assert read_rollout(path).thread_id == thread_id


async def test_link_planted_at_the_temporary_name_is_not_written_through(
    tmp_path: Path,
) -> None:
    _thread_id, path = await write_rollout(tmp_path / "home", text="deleted while open")
    writer = RolloutWriter.resume(path)
    await writer.open()
    history = path.read_bytes()
    path.unlink()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"must stay as it is\n")
    planted = path.parent / f".{path.name}.{os.getpid()}.tmp"
    planted.symlink_to(victim)

    await writer.append([_event()])
    await writer.close()
    assert victim.read_bytes() == b"must stay as it is\n"
    assert not path.is_symlink()
    assert path.read_bytes().startswith(history)
    assert not os.path.lexists(planted)


@pytest.mark.parametrize("append", [append_to_rollout, append_synced])
async def test_one_off_appends_refuse_links_and_missing_files(
    tmp_path: Path, append: Callable[[Path, bytes], None]
) -> None:
    _thread_id, real = await _real_rollout(tmp_path)
    before = real.read_bytes()
    link = tmp_path / real.name
    link.symlink_to(real)
    with pytest.raises(NotRegularFileError, match="symbolic link"):
        append(link, b'{"line":1}\n')
    assert real.read_bytes() == before

    fifo = tmp_path / "rollout-fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="FIFO"):
        _promptly(fifo, lambda: append(fifo, b'{"line":1}\n'))

    missing = tmp_path / "rollout-missing.jsonl"
    with pytest.raises(FileNotFoundError) as caught:
        append(missing, b'{"line":1}\n')
    assert caught.value.errno == errno.ENOENT
    assert not missing.exists()

    append(real, b'{"line":1}\n')
    assert real.read_bytes() == before + b'{"line":1}\n'
