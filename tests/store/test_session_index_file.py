"""``session_index.jsonl`` (thread names) is opened like a rollout: a FIFO in its place
never blocks the reindex, and a symbolic link is neither read nor written through."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest
from tests.store._rollouts import write_rollout

from threadline.rollout.files import NotRegularFileError
from threadline.store import ListQuery, LocalThreadStore
from threadline.store.records import (
    SESSION_INDEX_FILE,
    append_session_name,
    discard_session_names,
    read_session_names,
)


async def test_fifo_session_index_does_not_block_the_reindex(tmp_path: Path) -> None:
    thread_id, _ = await write_rollout(tmp_path, text="named nowhere")
    fifo = tmp_path / SESSION_INDEX_FILE
    os.mkfifo(fifo)
    try:
        async with LocalThreadStore(tmp_path) as store:
            report = await asyncio.wait_for(store.reindex(), 10)
            assert report.indexed == 1
            page = await store.list(ListQuery(limit=10))
            assert [(r.id, r.name) for r in page.records] == [(thread_id, None)]
    finally:
        # A reader stuck in open() (the bug) is released so the test run can end.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    with pytest.raises(NotRegularFileError, match="FIFO"):
        append_session_name(tmp_path, thread_id, "a name")


def test_linked_session_index_is_not_read_or_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b'{"id":"abc","thread_name":"from outside"}\n')
    home = tmp_path / "home"
    home.mkdir()
    (home / SESSION_INDEX_FILE).symlink_to(outside)

    assert read_session_names(home) == {}
    with pytest.raises(NotRegularFileError, match="symbolic link"):
        append_session_name(home, "abc", "new name")
    with pytest.raises(NotRegularFileError, match="symbolic link"):
        discard_session_names(home, 0)
    assert outside.read_bytes() == b'{"id":"abc","thread_name":"from outside"}\n'

    (home / SESSION_INDEX_FILE).unlink()
    start = append_session_name(home, "abc", "new name")
    assert start == 0
    assert read_session_names(home) == {"abc": "new name"}
    discard_session_names(home, start)
    assert read_session_names(home) == {}
