"""What ``thread.path`` is for a thread in the PostgreSQL store.

The schema allows ``null`` (Codex sends it for an ephemeral thread), but clients read
a null path as "not persisted": Zed's bridge (``@agentclientprotocol/codex-acp`` 2.6.0)
leaves such threads out of its session list, refuses to change their system prompt,
and tells an archived thread by an ``archived_sessions`` component of the path. So a
stored thread keeps a path: the file it would be under this home, named as Codex names
it, ``sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`` (``archived_sessions/…`` once
archived). Nothing is written there; ``threadline threads export ID --out PATH``
writes that file, and the local store then serves the same thread from it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest
from tests.e2e.conftest import LaunchServer
from tests.support.mock_model import MockModel, text
from tests.support.stores import StoreUnderTest

pytestmark = pytest.mark.parametrize("store", ["postgres"], indirect=True)

NAME = re.compile(r"rollout-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-(?P<id>[0-9a-f-]{36})\.jsonl")


async def _export(home: Path, store: StoreUnderTest, thread_id: str, out: Path) -> None:
    env = {**os.environ, "THREADLINE_HOME": str(home), **store.env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "threadline", "threads", "export", thread_id, "--out", str(out),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr


async def test_the_path_is_where_the_exported_file_goes_and_the_local_store_finds_it(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    mock_model.enqueue(text("stored in the database"))
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "hi"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    read = (await client.request("thread/read", {"threadId": tid, "includeTurns": True}))["thread"]
    path = Path(read["path"])
    assert path.parent.parent.parent.parent == mock_home / "sessions"
    match = NAME.fullmatch(path.name)
    assert match is not None and match["id"] == tid
    assert not path.exists()  # shown, never written
    listed = await client.request("thread/list", {})
    assert [t["path"] for t in listed["data"]] == [str(path)]
    await server.stop()
    # What a server of the database answers for the thread when it is not loaded.
    fresh = await launch_server()
    read = (await fresh.client.request("thread/read", {"threadId": tid, "includeTurns": True}))["thread"]
    assert read["path"] == str(path)
    await fresh.stop()

    # `threads export --out <thread.path>` writes the file the path names...
    path.parent.mkdir(parents=True)  # export does not make directories
    await _export(mock_home, store, tid, path)
    assert path.is_file()
    # ... and a server on the local store serves the same thread from it.
    local = await launch_server(env={"THREADLINE_STORE_URL": ""})
    again = (await local.client.request("thread/read", {"threadId": tid, "includeTurns": True}))["thread"]
    assert again["path"] == str(path)
    assert again["turns"] == read["turns"]
    await local.stop()
    path.unlink()  # the PostgreSQL half of this test keeps no rollout file

    # Archived: the path moves under archived_sessions/, as a local rollout would.
    server = await launch_server()
    await server.client.request("thread/archive", {"threadId": tid})
    archived = await server.client.request("thread/list", {"archived": True})
    [row] = archived["data"]
    assert Path(row["path"]) == mock_home / "archived_sessions" / path.name
    un = await server.client.request("thread/unarchive", {"threadId": tid})
    assert un["thread"]["path"] == str(path)
    # The path finds the thread, as a rollout path does for thread/resume.
    resumed = await server.client.request("thread/resume", {"threadId": "", "path": str(path)})
    assert resumed["thread"]["id"] == tid
    assert [t["id"] for t in resumed["thread"]["turns"]] == [t["id"] for t in read["turns"]]
