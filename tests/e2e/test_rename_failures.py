"""``thread/name/set`` that fails has no effect, now or later.

The full disk is real: ``THREADLINE_HOME`` is a small tmpfs mounted for the test
(we run as root in CI; elsewhere the test is skipped unless ``CI`` is set, where it
fails instead). A rename is refused while the disk is full; after space returns,
further turns (whose flushes used to write the refused line after all), a restart
and a resume all still show the previous name, and neither the
rollout nor the session index (what a rebuilt index reads) holds it. Bad names are ``-32600``
(on the local store and on PostgreSQL; the full disk is the local store's alone).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import LaunchServer, write_mock_config
from tests.support.appserver import AppServerClient, RpcResponseError
from tests.support.mock_model import MockModel, text
from tests.support.stores import StoreUnderTest, both_stores, local_only

pytestmark = both_stores

# 1024 four-byte characters: the rename line is over 4 KiB, more than the free tail
# of any page tmpfs already gave a file, so the full disk cannot absorb it.
LONG_NAME = "\U0001f642" * 1024


@pytest.fixture
def full_disk_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "tmpfs-home"
    home.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(home)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs (root needed): {done.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def fill(home: Path) -> Path:
    """Write a filler file until the tmpfs refuses more."""
    filler = home / "filler"
    with filler.open("wb", buffering=0) as handle:
        block = b"\0" * 65536
        while True:
            try:
                handle.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        for _ in range(64):  # the last pages, a little at a time
            with contextlib.suppress(OSError):
                handle.write(b"\0" * 512)
    return filler


async def run_turn(client: AppServerClient, mock: MockModel, tid: str, words: str) -> None:
    mock.enqueue(text(f"answer to {words}"))
    await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": words}]}
    )
    await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == tid
    )


def names_on_disk(home: Path, rollout: Path, store: StoreUnderTest | None = None) -> list[object]:
    """Every name the rollout (or the stored thread's lines) and the session index ever
    recorded, oldest first."""
    found: list[object] = []
    raws = store.raw_lines(rollout) if store is not None else rollout.read_bytes().splitlines()
    for raw in raws:
        with contextlib.suppress(ValueError):
            line = json.loads(raw)
            if line.get("payload", {}).get("type") == "thread_name_updated":
                found.append(line["payload"].get("thread_name"))
    index = home / "session_index.jsonl"
    if index.exists():
        found += [json.loads(raw)["thread_name"] for raw in index.read_bytes().splitlines()]
    return found


async def name_of(client: AppServerClient, tid: str) -> object:
    read = await client.request("thread/read", {"threadId": tid})
    listed = await client.request("thread/list", {})
    [row] = [t for t in listed["data"] if t["id"] == tid]
    assert row["name"] == read["thread"]["name"]
    return read["thread"]["name"]


@local_only("a full disk under the home's rollout files")
async def test_rename_on_a_full_disk_never_takes_effect(
    launch_server: LaunchServer, full_disk_home: Path, mock_model: MockModel
) -> None:
    home = full_disk_home
    write_mock_config(home, mock_model.base_url)
    server = await launch_server(home=home)
    client = server.client
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    await run_turn(client, mock_model, tid, "one")
    await client.request("thread/name/set", {"threadId": tid, "name": "kept"})
    read = await client.request("thread/read", {"threadId": tid})
    rollout = Path(read["thread"]["path"])

    # Loaded thread: refused while full, and nothing of it appears once space returns.
    filler = fill(home)
    with pytest.raises(RpcResponseError) as refused:
        await client.request("thread/name/set", {"threadId": tid, "name": LONG_NAME})
    assert refused.value.code == -32603
    assert "failed to write rollout" in refused.value.message
    assert await name_of(client, tid) == "kept"
    filler.unlink()
    await run_turn(client, mock_model, tid, "two")
    assert await name_of(client, tid) == "kept"
    assert names_on_disk(home, rollout) == ["kept", "kept"]

    # Not loaded (fresh process): the direct append is refused and cut off the same way.
    await server.stop()
    server = await launch_server(home=home)
    client = server.client
    filler = fill(home)
    with pytest.raises(RpcResponseError) as refused:
        await client.request("thread/name/set", {"threadId": tid, "name": LONG_NAME})
    assert refused.value.code == -32603
    filler.unlink()
    assert await name_of(client, tid) == "kept"
    resumed = await client.request("thread/resume", {"threadId": tid})
    assert resumed["thread"]["name"] == "kept"
    await run_turn(client, mock_model, tid, "three")
    assert await name_of(client, tid) == "kept"
    assert names_on_disk(home, rollout) == ["kept", "kept"]
    await server.stop()
    # With space, the same long rename works (it was refused for the disk, not the name).
    server = await launch_server(home=home)
    await server.client.request("thread/name/set", {"threadId": tid, "name": LONG_NAME})
    assert await name_of(server.client, tid) == LONG_NAME


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\x00b", "Invalid request: `name` must not contain NUL (U+0000) characters"),
        ("x" * 10240, "Invalid request: `name` is 10240 characters long; at most 1024 are allowed"),
        ("   ", "thread name must not be empty"),
    ],
)
async def test_bad_names_are_invalid_requests(
    launch_server: LaunchServer, mock_model: MockModel, name: str, message: str,
    store: StoreUnderTest,
) -> None:
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    await run_turn(client, mock_model, tid, "hello")
    with pytest.raises(RpcResponseError) as refused:
        await client.request("thread/name/set", {"threadId": tid, "name": name})
    assert (refused.value.code, refused.value.message) == (-32600, message)
    assert await name_of(client, tid) is None
    rollout = Path((await client.request("thread/read", {"threadId": tid}))["thread"]["path"])
    assert names_on_disk(server.home, rollout, store) == []
    assert client.received("thread/name/updated") == []
