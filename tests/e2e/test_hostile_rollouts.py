"""Hostile entries under ``sessions/`` through a real ``threadline app-server``: a FIFO,
a directory or a symbolic link carrying a rollout's name never wedges the connection, is
never listed, and every request naming it (by id or by ``path``) gets a clear -32600 that
says what the entry is. A link pointing outside the home is never written through."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import OFFLINE_CONFIG, AppServerFactory
from tests.store._rollouts import BASE_TIME, write_rollout
from tests.support.appserver import AppServerClient
from tests.support.readonly import tree_snapshot

from threadline.rollout.paths import new_thread_id, rollout_path_for

INVALID_REQUEST = -32600


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(OFFLINE_CONFIG, encoding="utf-8")
    return home


@pytest.fixture
def var_tmp() -> Iterator[Path]:
    """A directory outside the home, in /var/tmp (as a real attacker's target would be)."""
    path = Path(tempfile.mkdtemp(prefix="threadline-outside-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def _ids_listed(client: AppServerClient) -> set[str]:
    result = await client.request("thread/list", {"limit": 50}, timeout=10)
    return {t["id"] for t in result["data"]}


async def test_fifo_and_directory_named_like_rollouts_are_refused_not_opened(
    app_server: AppServerFactory, tmp_path: Path
) -> None:
    home = _home(tmp_path)
    good_id, _good = await write_rollout(home, text="the real one", provider="mock")
    fifo_id = new_thread_id()
    fifo = rollout_path_for(home, fifo_id, BASE_TIME)
    os.mkfifo(fifo)
    dir_id = new_thread_id()
    directory = rollout_path_for(home, dir_id, BASE_TIME)
    directory.mkdir()

    server = await app_server(home=home)
    client = server.client
    # Index backfill and listing finish (opening the FIFO would block for ever).
    assert await _ids_listed(client) == {good_id}

    for method, params in [
        ("thread/read", {"threadId": fifo_id, "includeTurns": True}),
        ("thread/resume", {"threadId": fifo_id}),
        ("thread/fork", {"threadId": fifo_id}),
        ("thread/name/set", {"threadId": fifo_id, "name": "x"}),
    ]:
        err = await client.request_error(method, params, timeout=10)
        assert err["code"] == INVALID_REQUEST, (method, err)
        assert str(fifo) in err["message"] and "a FIFO, not a regular file" in err["message"]
    for method in ("thread/resume", "thread/fork"):
        err = await client.request_error(method, {"threadId": "", "path": str(fifo)}, timeout=10)
        assert err["code"] == INVALID_REQUEST
        assert err["message"] == (
            f"failed to load rollout `{fifo}`: it is a FIFO, not a regular file"
        )
    err = await client.request_error(
        "thread/resume", {"threadId": "", "path": str(directory)}, timeout=10
    )
    assert err["code"] == INVALID_REQUEST and "a directory, not a regular file" in err["message"]
    err = await client.request_error("thread/resume", {"threadId": dir_id}, timeout=10)
    assert err["code"] == INVALID_REQUEST and "a directory" in err["message"]

    # The connection is still answering, and the real thread still works.
    read = await client.request("thread/read", {"threadId": good_id, "includeTurns": True})
    assert read["thread"]["id"] == good_id and len(read["thread"]["turns"]) == 1
    assert (await client.request("thread/loaded/list", {}))["data"] == []


async def test_symlinked_rollout_outside_the_home_is_never_followed(
    app_server: AppServerFactory, tmp_path: Path, var_tmp: Path
) -> None:
    home = _home(tmp_path)
    # A genuine rollout, but outside the home; linked in under its own rollout name.
    thread_id, outside = await write_rollout(var_tmp, text="lives in /var/tmp", provider="mock")
    link = home / outside.relative_to(var_tmp)
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    before = tree_snapshot(var_tmp)

    server = await app_server(home=home)
    client = server.client
    assert await _ids_listed(client) == set()

    expected = f"refusing rollout `{link}` of thread {thread_id}: it is a symbolic link to `{outside}`"
    for method, params in [
        ("thread/resume", {"threadId": thread_id}),
        ("thread/read", {"threadId": thread_id, "includeTurns": True}),
        ("thread/read", {"threadId": thread_id, "includeTurns": False}),
        ("thread/fork", {"threadId": thread_id}),
        ("thread/name/set", {"threadId": thread_id, "name": "renamed"}),
        ("thread/archive", {"threadId": thread_id}),
        ("thread/memoryMode/set", {"threadId": thread_id, "mode": "disabled"}),
    ]:
        err = await client.request_error(method, params, timeout=10)
        assert err["code"] == INVALID_REQUEST, (method, err)
        assert err["message"].startswith(expected), (method, err["message"])
    for method in ("thread/resume", "thread/fork"):
        err = await client.request_error(method, {"threadId": "", "path": str(link)})
        assert err["code"] == INVALID_REQUEST
        assert "is a symbolic link" in err["message"] and str(outside) in err["message"]
    # And by the outside path itself: outside the sessions directories.
    err = await client.request_error("thread/resume", {"threadId": "", "path": str(outside)})
    assert err["code"] == INVALID_REQUEST and "outside the sessions directories" in err["message"]

    assert (await client.request("thread/loaded/list", {}))["data"] == []
    await server.stop()
    assert tree_snapshot(var_tmp) == before  # not one byte appended, not even touched
    assert link.is_symlink()


async def test_symlink_inside_the_home_is_refused_too(
    app_server: AppServerFactory, tmp_path: Path
) -> None:
    """A link from ``sessions/`` to a file that is itself inside the home (here an archived
    copy) would let a resume append to the archived file: links are not rollouts at all."""
    home = _home(tmp_path)
    thread_id, path = await write_rollout(home, text="archived, then linked back")
    archived = home / "archived_sessions" / path.name
    archived.parent.mkdir()
    os.replace(path, archived)
    path.symlink_to(archived)
    before = archived.read_bytes()

    server = await app_server(home=home)
    client = server.client
    err = await client.request_error("thread/resume", {"threadId": "", "path": str(path)})
    assert err["code"] == INVALID_REQUEST and "is a symbolic link" in err["message"]
    # By id the archived regular file is the thread's rollout, and it stays archived.
    err = await client.request_error("thread/resume", {"threadId": thread_id})
    assert err["code"] == INVALID_REQUEST and "archived" in err["message"]
    await server.stop()
    assert archived.read_bytes() == before
