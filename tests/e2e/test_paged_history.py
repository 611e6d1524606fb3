"""Paged history over a real stdio app-server: ``thread/turns/list`` and
``thread/items/list`` with cursors, both directions, limits and items views, for a
stored thread (served from the rollout's offset index) and a loaded one; the page
equals the same slice of a whole ``thread/read``; bad cursors are refused and lose
nothing; the index follows a rollout that another writer appended to. Each test runs on
the local store and on PostgreSQL (the rollout seeded into the store)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient, RpcResponseError
from tests.support.stores import StoreUnderTest, both_stores

pytestmark = both_stores

THREAD_ID = "019a0000-0000-7000-8000-0000000a6e01"
TS = "2026-11-20T10:00:00.000Z"


def _line(kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"timestamp": TS, "type": kind, "payload": payload}, separators=(",", ":"))


def turn_lines(n: int, *, reasoning: bool = True) -> list[str]:
    turn_id = f"turn-{n:04d}"
    lines = [
        _line("event_msg", {"type": "task_started", "turn_id": turn_id, "started_at": 1700000000 + n}),
        _line("response_item", {"type": "message", "role": "user",
                                "content": [{"type": "input_text", "text": f"question {n}"}]}),
        _line("event_msg", {"type": "user_message", "message": f"question {n}",
                            "local_images": [], "text_elements": []}),
    ]
    if reasoning:
        lines.append(_line("event_msg", {"type": "agent_reasoning", "text": f"thinking {n}"}))
    lines += [
        _line("event_msg", {"type": "agent_message", "message": f"answer {n}"}),
        _line("event_msg", {"type": "task_complete", "turn_id": turn_id,
                            "last_agent_message": f"answer {n}"}),
    ]
    return lines


def write_rollout(home: Path, cwd: Path, turns: int) -> Path:
    day = home / "sessions" / "2026" / "11" / "20"
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"rollout-2026-11-20T10-00-00-{THREAD_ID}.jsonl"
    lines = [_line("session_meta", {
        "id": THREAD_ID, "timestamp": TS, "cwd": str(cwd), "originator": "tests",
        "cli_version": "0.0.0", "source": "vscode", "model_provider": "mock",
    })]
    for n in range(turns):
        lines += turn_lines(n, reasoning=n % 2 == 0)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _all_turns(client: AppServerClient, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        page = await client.request("thread/turns/list", {**params, "cursor": cursor})
        pages += 1
        out += page["data"]
        cursor = page["nextCursor"]
        if cursor is None:
            return out, pages


async def test_turns_pages_match_a_whole_read_both_directions(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    await store.seed(write_rollout(mock_home, tmp_path, 23))
    client = (await launch_server()).client
    whole = (await client.request("thread/read", {"threadId": THREAD_ID, "includeTurns": True}))["thread"]["turns"]
    assert len(whole) == 23
    desc, pages = await _all_turns(client, {"threadId": THREAD_ID, "limit": 5, "itemsView": "full"})
    assert pages == 5
    assert [t["id"] for t in desc] == [t["id"] for t in reversed(whole)]
    assert [t["items"] for t in desc] == [t["items"] for t in reversed(whole)]
    asc, _ = await _all_turns(client, {"threadId": THREAD_ID, "limit": 7, "sortDirection": "asc"})
    assert [t["id"] for t in asc] == [t["id"] for t in whole]
    # The default view is Codex's summary: user messages and the final agent message.
    assert {t["itemsView"] for t in asc} == {"summary"}
    assert [i["type"] for i in asc[0]["items"]] == ["userMessage", "agentMessage"]
    assert asc[0]["items"][1]["text"] == "answer 0"
    first = await client.request("thread/turns/list", {"threadId": THREAD_ID, "limit": 3, "itemsView": "notLoaded"})
    assert [t["items"] for t in first["data"]] == [[], [], []]
    assert [t["id"] for t in first["data"]] == ["turn-0022", "turn-0021", "turn-0020"]


async def test_backwards_cursor_includes_the_anchor(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    await store.seed(write_rollout(mock_home, tmp_path, 10))
    client = (await launch_server()).client
    page = await client.request("thread/turns/list", {"threadId": THREAD_ID, "limit": 3})
    assert [t["id"] for t in page["data"]] == ["turn-0009", "turn-0008", "turn-0007"]
    back = await client.request("thread/turns/list", {
        "threadId": THREAD_ID, "cursor": page["backwardsCursor"], "sortDirection": "asc"})
    assert [t["id"] for t in back["data"]] == ["turn-0009"]
    assert back["nextCursor"] is None
    nxt = await client.request("thread/turns/list", {"threadId": THREAD_ID, "limit": 3, "cursor": page["nextCursor"]})
    assert [t["id"] for t in nxt["data"]] == ["turn-0006", "turn-0005", "turn-0004"]


async def test_items_pages_cross_turns_and_match_the_read(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    await store.seed(write_rollout(mock_home, tmp_path, 9))
    client = (await launch_server()).client
    whole = (await client.request("thread/read", {"threadId": THREAD_ID, "includeTurns": True}))["thread"]["turns"]
    expected = [(t["id"], i) for t in whole for i in t["items"]]
    got: list[tuple[str, dict[str, Any]]] = []
    cursor = None
    while True:
        page = await client.request("thread/items/list", {"threadId": THREAD_ID, "limit": 4, "cursor": cursor})
        got += [(e["turnId"], e["item"]) for e in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert got == expected
    desc = await client.request("thread/items/list", {"threadId": THREAD_ID, "sortDirection": "desc", "limit": 3})
    assert [(e["turnId"], e["item"]) for e in desc["data"]] == list(reversed(expected))[:3]
    # One turn, after an item anchor (exclusive).
    turn = whole[4]
    anchor = {"type": "item", "itemId": turn["items"][0]["id"]}
    one = await client.request("thread/items/list", {"threadId": THREAD_ID, "turnId": turn["id"], "cursor": anchor})
    assert [e["item"] for e in one["data"]] == turn["items"][1:]
    assert {e["turnId"] for e in one["data"]} == {turn["id"]}


async def test_bad_cursors_and_unknown_threads_are_refused(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    path = await store.seed(write_rollout(mock_home, tmp_path, 4))
    before = store.raw_lines(path)
    client = (await launch_server()).client
    items = await client.request("thread/items/list", {"threadId": THREAD_ID, "limit": 1})
    for params in (
        {"threadId": THREAD_ID, "cursor": "garbage"},
        {"threadId": THREAD_ID, "cursor": items["nextCursor"]},  # an items cursor
        {"threadId": THREAD_ID, "limit": -1},
    ):
        with pytest.raises(RpcResponseError) as err:
            await client.request("thread/turns/list", params)
        assert err.value.code in (-32600, -32602)
    # Codex's answers, word for word.
    with pytest.raises(RpcResponseError) as err:
        await client.request("thread/turns/list", {"threadId": THREAD_ID, "cursor": "{}"})
    assert (err.value.code, err.value.message) == (-32600, "invalid cursor: {}")
    with pytest.raises(RpcResponseError) as err:
        await client.request("thread/items/list", {"threadId": THREAD_ID, "cursor": {"type": "item", "itemId": "x"}})
    assert (err.value.code, err.value.message) == (-32602, "turnId is required when cursor is an item anchor")
    with pytest.raises(RpcResponseError) as err:
        await client.request("thread/turns/list", {"threadId": "019a0000-0000-7000-8000-00000000dead"})
    assert err.value.message == "thread not loaded: 019a0000-0000-7000-8000-00000000dead"
    empty = await client.request("thread/items/list", {"threadId": THREAD_ID, "turnId": "nope"})
    assert empty == {"data": [], "nextCursor": None, "backwardsCursor": None}
    one = await client.request("thread/turns/list", {"threadId": THREAD_ID, "limit": 0})
    assert len(one["data"]) == 1 and one["nextCursor"] is not None
    with pytest.raises(RpcResponseError):
        await client.request("thread/turns/list", {"threadId": "not-a-uuid"})
    assert store.raw_lines(path) == before
    ok = await client.request("thread/turns/list", {"threadId": THREAD_ID})
    assert len(ok["data"]) == 4


async def test_index_follows_appends_by_another_writer(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    path = await store.seed(write_rollout(mock_home, tmp_path, 3))
    client = (await launch_server()).client
    first = await client.request("thread/turns/list", {"threadId": THREAD_ID, "limit": 1})
    assert first["data"][0]["id"] == "turn-0002"
    store.append_raw(path, turn_lines(3))  # Codex (or anyone) appends a turn
    again = await client.request("thread/turns/list", {"threadId": THREAD_ID, "limit": 1})
    assert again["data"][0]["id"] == "turn-0003"
    # A rollback appended later hides the newest two turns.
    store.append_raw(path, [_line("event_msg", {"type": "thread_rolled_back", "num_turns": 2})])
    after = await client.request("thread/turns/list", {"threadId": THREAD_ID})
    assert [t["id"] for t in after["data"]] == ["turn-0001", "turn-0000"]
    # A rewritten file (same path, new content) is indexed afresh, not extended.
    await store.reseed(write_rollout(mock_home, tmp_path, 2))
    fresh = await client.request("thread/turns/list", {"threadId": THREAD_ID})
    assert [t["id"] for t in fresh["data"]] == ["turn-0001", "turn-0000"]


async def test_loaded_thread_pages_from_memory_and_resume_carries_cursors(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    await store.seed(write_rollout(mock_home, tmp_path, 6))
    client = (await launch_server()).client
    resumed = await client.request("thread/resume", {
        "threadId": THREAD_ID, "excludeTurns": True,
        "initialTurnsPage": {"limit": 2, "itemsView": "full"}})
    assert resumed["thread"]["turns"] == []
    assert [t["id"] for t in resumed["initialTurnsPage"]["data"]] == ["turn-0005", "turn-0004"]
    page = await client.request("thread/turns/list", {
        "threadId": THREAD_ID, "cursor": resumed["turnsBackwardsCursor"], "limit": 2})
    assert [t["id"] for t in page["data"]] == ["turn-0005", "turn-0004"]
    items = await client.request("thread/items/list", {
        "threadId": THREAD_ID, "cursor": resumed["itemsBackwardsCursor"], "sortDirection": "desc",
        "limit": 2})
    assert [e["item"]["type"] for e in items["data"]] == ["agentMessage", "userMessage"]
    assert items["data"][0]["item"]["text"] == "answer 5"
    assert {e["turnId"] for e in items["data"]} == {"turn-0005"}
