"""A read-only ``THREADLINE_HOME`` through a real ``threadline app-server``.

Codex 0.169 refuses to start at all on a read-only ``CODEX_HOME`` ("failed to open
state DB ... unable to open database file"). threadline serves what needs no write:
``thread/list`` and ``thread/read`` work (the index lives in memory), ephemeral
threads work, and ``thread/resume`` / ``thread/start`` / ``thread/fork`` of
persistent threads answer -32600 naming the path that cannot be written. Nothing in
the home changes.

Two kinds of read-only, both run in CI (as root):

* a read-only bind mount of the home (root cannot write it either);
* a root-owned home with mode 0555 (files 0444), served by a process that keeps
  uid 0 but lacks the capabilities that override permission bits (``setpriv``), so
  the bits bind it like any unprivileged user.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.conftest import OFFLINE_CONFIG, AppServerFactory
from tests.store._rollouts import BASE_TIME, write_rollout
from tests.support.appserver import AppServerClient
from tests.support.readonly import NO_DAC_OVERRIDE, read_only_dir, read_only_tree, tree_snapshot

INVALID_REQUEST = -32600


async def _prepared_home(app_server: AppServerFactory, tmp_path: Path) -> tuple[Path, list[str]]:
    """Two threads on disk, indexed and one named by a normal (writable) server run."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(OFFLINE_CONFIG, encoding="utf-8")
    ids = []
    for i in range(2):
        thread_id, _ = await write_rollout(
            home, created=BASE_TIME + timedelta(minutes=i), text=f"question {i}",
            provider="mock", cwd=str(tmp_path),
        )
        ids.append(thread_id)
    server = await app_server(home=home)
    listed = await server.client.request("thread/list", {"limit": 10})
    assert {t["id"] for t in listed["data"]} == set(ids)
    await server.client.request("thread/name/set", {"threadId": ids[0], "name": "first"})
    await server.stop()
    return home, ids


async def _check_read_only_server(
    client: AppServerClient, home: Path, ids: list[str], *, why: str
) -> None:
    listed = await client.request("thread/list", {"limit": 10}, timeout=10)
    assert [t["id"] for t in listed["data"]] == list(reversed(ids))
    assert {t["id"]: t["name"] for t in listed["data"]}[ids[0]] == "first"
    read = await client.request("thread/read", {"threadId": ids[1], "includeTurns": True})
    assert read["thread"]["preview"] == "question 1"
    assert [len(t["items"]) for t in read["thread"]["turns"]] == [2]
    path = read["thread"]["path"]

    err = await client.request_error("thread/resume", {"threadId": ids[1]})
    assert err["code"] == INVALID_REQUEST
    assert err["message"] == (
        f"cannot resume thread {ids[1]}: `{path}` {why}, so its rollout cannot record "
        "new turns (thread/read works without resuming)"
    )
    err = await client.request_error("thread/resume", {"threadId": "", "path": path})
    assert err["code"] == INVALID_REQUEST and f"`{path}` {why}" in err["message"]
    for method, params in [("thread/start", {}), ("thread/fork", {"threadId": ids[0]})]:
        err = await client.request_error(method, params)
        assert err["code"] == INVALID_REQUEST, (method, err)
        assert why in err["message"] and str(home / "sessions") in err["message"], err
        assert "ephemeral" in err["message"]
    # What needs no rollout still works: an ephemeral thread, an ephemeral fork.
    started = await client.request("thread/start", {"ephemeral": True})
    assert started["thread"]["ephemeral"] is True
    forked = await client.request("thread/fork", {"threadId": ids[0], "ephemeral": True})
    assert forked["thread"]["forkedFromId"] == ids[0]
    loaded = (await client.request("thread/loaded/list", {}))["data"]
    assert set(loaded) == {started["thread"]["id"], forked["thread"]["id"]}


async def test_read_only_mount(app_server: AppServerFactory, tmp_path: Path) -> None:
    home, ids = await _prepared_home(app_server, tmp_path)
    before = tree_snapshot(home)
    with read_only_dir(home):
        server = await app_server(home=home)
        await _check_read_only_server(
            server.client, home, ids, why="is on a read-only file system"
        )
        await server.stop()
    assert tree_snapshot(home) == before


async def test_read_only_by_permission_bits(app_server: AppServerFactory, tmp_path: Path) -> None:
    home, ids = await _prepared_home(app_server, tmp_path)
    # The writable server closed cleanly, so state.sqlite holds every row (no WAL left).
    read_only_tree(home)
    before = tree_snapshot(home)
    server = await app_server(home=home, prefix=NO_DAC_OVERRIDE)
    await _check_read_only_server(server.client, home, ids, why="is not writable")
    await server.stop()
    assert tree_snapshot(home) == before
