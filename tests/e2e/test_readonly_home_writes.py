"""Requests that would change a thread on disk, in a read-only ``THREADLINE_HOME``.

``thread/archive``, ``thread/unarchive``, ``thread/name/set`` and
``thread/memoryMode/set`` answer -32600 naming the path that cannot be written (as
``thread/resume`` does there), never a -32603 internal error, and leave every file
in the home as it was. Both kinds of read-only run in CI (as root): a read-only bind
mount, and permission bits obeyed by a server without the overriding capabilities.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.conftest import OFFLINE_CONFIG, AppServerFactory
from tests.store._rollouts import BASE_TIME, write_rollout
from tests.support.appserver import AppServerClient
from tests.support.readonly import NO_DAC_OVERRIDE, read_only_dir, read_only_tree, tree_snapshot

INVALID_REQUEST = -32600


async def _prepared_home(
    app_server: AppServerFactory, tmp_path: Path
) -> tuple[Path, str, str]:
    """A home with one active and one archived thread, indexed by a writable server."""
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
    await server.client.request("thread/archive", {"threadId": ids[1]})
    await server.stop()
    return home, ids[0], ids[1]


async def _path_of(client: AppServerClient, thread_id: str) -> Path:
    read = await client.request("thread/read", {"threadId": thread_id})
    return Path(read["thread"]["path"])


async def _check_refusals(
    client: AppServerClient, active: str, archived: str, *, why: str
) -> None:
    active_path = await _path_of(client, active)
    archived_path = await _path_of(client, archived)

    cases = [
        ("thread/archive", {"threadId": active}, f"cannot archive thread {active}",
         active_path.parent),
        ("thread/unarchive", {"threadId": archived}, f"cannot unarchive thread {archived}",
         archived_path.parent),
        ("thread/name/set", {"threadId": active, "name": "renamed"},
         f"cannot rename thread {active}", active_path),
        ("thread/memoryMode/set", {"threadId": active, "mode": "disabled"},
         f"cannot set the memory mode of thread {active}", active_path),
    ]
    for method, params, start, path in cases:
        err = await client.request_error(method, params)
        assert err["code"] == INVALID_REQUEST, (method, err)
        assert err["message"].startswith(f"{start}: `{path}` {why}"), (method, err)
        assert "Internal error" not in err["message"] and "Errno" not in err["message"]

    # Nothing changed, as seen through the server too.
    listed = await client.request("thread/list", {"limit": 10})
    assert [(t["id"], t["name"]) for t in listed["data"]] == [(active, None)]
    listed = await client.request("thread/list", {"limit": 10, "archived": True})
    assert [t["id"] for t in listed["data"]] == [archived]
    assert await _path_of(client, active) == active_path
    assert await _path_of(client, archived) == archived_path


async def test_read_only_mount(app_server: AppServerFactory, tmp_path: Path) -> None:
    home, active, archived = await _prepared_home(app_server, tmp_path)
    before = tree_snapshot(home)
    with read_only_dir(home):
        server = await app_server(home=home)
        await _check_refusals(
            server.client, active, archived, why="is on a read-only file system"
        )
        await server.stop()
    assert tree_snapshot(home) == before


async def test_read_only_by_permission_bits(app_server: AppServerFactory, tmp_path: Path) -> None:
    home, active, archived = await _prepared_home(app_server, tmp_path)
    read_only_tree(home)
    before = tree_snapshot(home)
    server = await app_server(home=home, prefix=NO_DAC_OVERRIDE)
    await _check_refusals(server.client, active, archived, why="is not writable")
    await server.stop()
    assert tree_snapshot(home) == before
