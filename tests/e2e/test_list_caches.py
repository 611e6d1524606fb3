"""A warm ``thread/list`` reuses what it read (the index's page and records, the wire
threads; store/sql_worker.py, handlers.common.listed_thread): the answers must stay those
of a cold server, and follow every change, this server's own and another process's."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import AppServerFactory, offline_home

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "codex-0.169.0"

EVERY_SOURCE = {"sourceKinds": ["cli", "vscode", "exec", "appServer", "unknown"],
                "modelProviders": [], "limit": 100}


def _home(tmp_path: Path) -> Path:
    home = offline_home(tmp_path / "home")
    shutil.copytree(REFERENCE / "rollouts" / "sessions", home / "sessions")
    return home


async def _lists(server: Any, params: dict[str, Any], times: int) -> list[Any]:
    return [await server.client.request("thread/list", params) for _ in range(times)]


async def test_warm_lists_answer_what_a_cold_server_does(
    app_server: AppServerFactory, tmp_path: Path
) -> None:
    home = _home(tmp_path)
    pages = [EVERY_SOURCE, {}, {**EVERY_SOURCE, "limit": 2}, {**EVERY_SOURCE, "archived": True}]
    warm = await app_server(home=home)
    first = [await _lists(warm, p, 3) for p in pages]
    await warm.stop()
    assert all(len(answers[0]["data"]) > 0 for answers in first[:3])
    for answers in first:  # the repeats came from the caches
        assert answers[1] == answers[0] and answers[2] == answers[0]
    # The next page through a cursor, twice.
    cursor = first[2][0]["nextCursor"]
    assert cursor is not None
    cold = await app_server(home=home)
    for page, answers in zip(pages, first, strict=True):
        assert (await cold.client.request("thread/list", page)) == answers[0]
    warm = await app_server(home=home)
    for _ in range(2):
        assert (await warm.client.request("thread/list", page)) == first[-1][0]
        assert (await warm.client.request("thread/list", {**pages[2], "cursor": cursor})) == (
            await cold.client.request("thread/list", {**pages[2], "cursor": cursor})
        )


async def test_warm_lists_follow_own_and_outside_changes(
    app_server: AppServerFactory, tmp_path: Path
) -> None:
    home = _home(tmp_path)
    server = await app_server(home=home)
    before = await _lists(server, EVERY_SOURCE, 2)
    target = before[0]["data"][0]["id"]
    # This server's own change.
    await server.client.request("thread/name/set", {"threadId": target, "name": "Renamed here"})
    after = await server.client.request("thread/list", EVERY_SOURCE)
    assert [t["name"] for t in after["data"] if t["id"] == target] == ["Renamed here"]
    # Another process's commit to the shared index (as a second server on this home makes).
    db = sqlite3.connect(home / "state.sqlite", isolation_level=None)
    try:
        db.execute("UPDATE threads SET name = ?, preview = ? WHERE id = ?",
                   ("Renamed elsewhere", "changed outside", target))
    finally:
        db.close()
    outside = await server.client.request("thread/list", EVERY_SOURCE)
    entry = [t for t in outside["data"] if t["id"] == target]
    assert [(t["name"], t["preview"]) for t in entry] == [("Renamed elsewhere", "changed outside")]
    # Archiving moves it between the two lists.
    await server.client.request("thread/archive", {"threadId": target})
    live = await server.client.request("thread/list", EVERY_SOURCE)
    archived = await server.client.request("thread/list", {**EVERY_SOURCE, "archived": True})
    assert target not in [t["id"] for t in live["data"]]
    assert target in [t["id"] for t in archived["data"]]
