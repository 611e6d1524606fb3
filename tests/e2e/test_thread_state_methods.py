"""Thread state over a real stdio app-server: goals, sections, attachments, Git metadata,
delete and revert, with Codex's answers, errors and notifications, kept across a restart.

The expected wording and codes are what the real Codex 0.169 answered to the same
requests (driven against the mock model). Every test runs on the local store and on
PostgreSQL (where the state is in ``tl_`` tables and the history in ``tl_lines``)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, function_call, text, usage
from tests.support.stores import StoreUnderTest, both_stores, local_only

pytestmark = both_stores

UNKNOWN = "019a0000-0000-7000-8000-000000000000"
PINNED = "01984de2-8f74-7c91-a3b2-5c5e937cf318"


async def _thread_with_turn(client: AppServerClient, mock: MockModel, words: str = "hi") -> str:
    mock.enqueue(text(f"answer to {words}"))
    tid: str = (await client.request("thread/start", {}))["thread"]["id"]
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": words}]})
    await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p.get("threadId") == tid
    )
    return tid


async def _turn(client: AppServerClient, mock: MockModel, tid: str, words: str) -> None:
    mock.enqueue(text(f"answer to {words}"))
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": words}]})
    await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p.get("threadId") == tid
    )


async def test_goal_set_get_clear_notifies_and_survives_restart(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    tid = await _thread_with_turn(client, mock_model)
    assert await client.request("thread/goal/get", {"threadId": tid}) == {"goal": None}

    made = await client.request(
        "thread/goal/set", {"threadId": tid, "objective": "ship it", "tokenBudget": 1000}
    )
    goal = made["goal"]
    assert goal["threadId"] == tid and goal["objective"] == "ship it"
    assert goal["status"] == "active" and goal["tokenBudget"] == 1000
    assert goal["tokensUsed"] == 0 and goal["timeUsedSeconds"] == 0
    note = await client.wait_for_notification("thread/goal/updated")
    assert note["params"] == {"threadId": tid, "turnId": None, "goal": goal}

    paused = (await client.request("thread/goal/set", {"threadId": tid, "status": "paused"}))["goal"]
    assert paused["status"] == "paused" and paused["objective"] == "ship it"
    assert paused["createdAt"] == goal["createdAt"] and paused["tokenBudget"] == 1000

    # Codex's refusals, word for word.
    bad = await client.request_error("thread/goal/set", {"threadId": tid, "tokenBudget": -5})
    assert (bad["code"], bad["message"]) == (-32600, "goal budgets must be positive when provided")
    bad = await client.request_error("thread/goal/set", {"threadId": tid, "objective": " "})
    assert bad["message"] == "goal objective must not be empty"
    bad = await client.request_error("thread/goal/get", {"threadId": UNKNOWN})
    assert (bad["code"], bad["message"]) == (-32600, f"thread not found: {UNKNOWN}")
    bad = await client.request_error("thread/goal/get", {"threadId": "nope"})
    assert bad["code"] == -32600 and bad["message"].startswith("invalid thread id")
    # A refused change changed nothing.
    assert (await client.request("thread/goal/get", {"threadId": tid}))["goal"] == paused

    await server.stop()
    server2 = await launch_server()
    client2 = server2.client
    assert (await client2.request("thread/goal/get", {"threadId": tid}))["goal"] == paused
    # A resume of a thread with a goal is followed by thread/goal/updated (no turn), not cleared.
    await client2.request("thread/resume", {"threadId": tid})
    resumed = await client2.wait_for_notification("thread/goal/updated")
    assert resumed["params"] == {"threadId": tid, "turnId": None, "goal": paused}
    assert client2.received("thread/goal/cleared") == []
    assert await client2.request("thread/goal/clear", {"threadId": tid}) == {"cleared": True}
    cleared = await client2.wait_for_notification("thread/goal/cleared")
    assert cleared["params"] == {"threadId": tid}
    assert await client2.request("thread/goal/clear", {"threadId": tid}) == {"cleared": False}
    bad = await client2.request_error("thread/goal/set", {"threadId": tid, "status": "paused"})
    assert bad["message"] == f"cannot update goal for thread {tid}: no goal exists"


async def test_sections_create_move_order_delete_and_restart(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    a = await _thread_with_turn(client, mock_model, "first")
    b = await _thread_with_turn(client, mock_model, "second")
    listed = await client.request("threadSection/list", {})
    assert listed == {"data": [{"id": PINNED, "name": "Pinned", "appearance": None}], "nextCursor": None}

    work = (await client.request(
        "threadSection/create", {"name": "Work", "appearance": {"color": "red"}}
    ))["section"]
    assert work["name"] == "Work" and work["appearance"] == {"color": "red", "icon": None}
    bad = await client.request_error("threadSection/create", {"name": "  "})
    assert (bad["code"], bad["message"]) == (-32602, "section name must not be empty")
    renamed = (await client.request(
        "threadSection/update", {"sectionId": work["id"], "name": "Work2"}
    ))["section"]
    assert renamed == {**work, "name": "Work2"}  # an omitted appearance is kept
    bad = await client.request_error("threadSection/update", {"sectionId": "zzz", "name": "x"})
    assert (bad["code"], bad["message"]) == (-32602, "thread section not found: zzz")

    await client.request("thread/section/move", {"threadId": a, "sectionId": work["id"]})
    changed = await client.wait_for_notification("thread/section/changed")
    assert changed["params"] == {"threadId": a, "sectionId": work["id"]}
    await client.request(
        "thread/section/move", {"threadId": b, "sectionId": work["id"], "beforeThreadId": a}
    )
    bad = await client.request_error("thread/section/move", {"threadId": a, "sectionId": "zzz"})
    assert (bad["code"], bad["message"]) == (-32600, "section zzz does not exist")
    bad = await client.request_error(
        "thread/section/move", {"threadId": a, "sectionId": work["id"], "beforeThreadId": UNKNOWN}
    )
    assert bad["message"] == f"before thread {UNKNOWN} is not in section {work['id']}"

    # The section shows on the thread (metadata/update answers the thread).
    shown = await client.request(
        "thread/metadata/update", {"threadId": a, "gitInfo": {"branch": "feat"}}
    )
    assert shown["thread"]["section"] == renamed
    assert isinstance(shown["thread"]["sectionEnteredAt"], int)
    # ... and on thread/list and thread/read, as Codex shows it.
    listed_threads = {t["id"]: t for t in (await client.request("thread/list", {}))["data"]}
    assert listed_threads[a]["section"] == renamed and listed_threads[b]["section"] == renamed
    read = (await client.request("thread/read", {"threadId": a}))["thread"]
    assert read["section"] == renamed and read["sectionEnteredAt"] == shown["thread"]["sectionEnteredAt"]

    page = await client.request("threadSection/list", {"limit": 1})
    assert [s["id"] for s in page["data"]] == [PINNED] and page["nextCursor"] == PINNED
    page = await client.request("threadSection/list", {"cursor": page["nextCursor"]})
    assert page == {"data": [renamed], "nextCursor": None}

    await server.stop()
    server2 = await launch_server()
    client2 = server2.client
    page = await client2.request("threadSection/list", {})
    assert page["data"] == [{"id": PINNED, "name": "Pinned", "appearance": None}, renamed]
    after = await client2.request(
        "thread/metadata/update", {"threadId": b, "gitInfo": {"sha": "abc"}}
    )
    assert after["thread"]["section"]["id"] == work["id"]
    await client2.request("threadSection/delete", {"sectionId": work["id"]})
    bad = await client2.request_error("threadSection/delete", {"sectionId": work["id"]})
    assert (bad["code"], bad["message"]) == (-32602, f"thread section not found: {work['id']}")
    gone = await client2.request("thread/metadata/update", {"threadId": b, "gitInfo": {"sha": "abd"}})
    assert gone["thread"]["section"] is None


async def test_attachments_add_list_owners_remove(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    a = await _thread_with_turn(client, mock_model, "one")
    b = await _thread_with_turn(client, mock_model, "two")
    params = {"threadId": a, "attachmentType": "pr", "identityKey": "k1", "payload": {"n": 1}}
    first = await client.request("thread/attachment/add", params)
    assert first["outcome"] == "created"
    att = first["attachment"]
    assert (att["attachmentType"], att["identityKey"], att["payload"]) == ("pr", "k1", {"n": 1})
    note = await client.wait_for_notification("thread/attachment/updated")
    assert note["params"] == {
        "threadId": a, "attachmentType": "pr", "identityKey": "k1",
        "attachmentId": att["id"], "operation": "created",
    }
    again = await client.request("thread/attachment/add", {**params, "payload": {"n": 2}})
    assert again == {"outcome": "existing", "attachment": att}  # the first payload stays
    await client.request("thread/attachment/add", {**params, "threadId": b})
    listed = await client.request("thread/attachment/list", {"threadId": a})
    assert listed == {"data": [att], "nextCursor": None}
    owners = await client.request(
        "thread/attachmentOwner/list", {"attachmentType": "pr", "identityKey": "k1"}
    )
    assert sorted(o["threadId"] for o in owners["data"]) == sorted([a, b])
    assert all(o["archived"] is False for o in owners["data"])
    await client.request("thread/archive", {"threadId": b})
    live = await client.request(
        "thread/attachmentOwner/list", {"attachmentType": "pr", "identityKey": "k1", "archived": False}
    )
    assert [o["threadId"] for o in live["data"]] == [a]
    every = await client.request(
        "thread/attachmentOwner/list", {"attachmentType": "pr", "identityKey": "k1", "limit": 1}
    )
    assert len(every["data"]) == 1 and every["nextCursor"] is not None

    bad = await client.request_error("thread/attachment/add", {**params, "threadId": UNKNOWN})
    assert (bad["code"], bad["message"]) == (-32602, f"thread not found: {UNKNOWN}")
    bad = await client.request_error(
        "thread/attachment/add", {**params, "payload": "x" * (300 * 1024)}
    )
    assert bad["code"] == -32602 and "payload" in bad["message"]

    await server.stop()
    server2 = await launch_server()
    client2 = server2.client
    assert (await client2.request("thread/attachment/list", {"threadId": a}))["data"] == [att]
    assert await client2.request(
        "thread/attachment/remove", {"threadId": a, "attachmentType": "pr", "identityKey": "k1"}
    ) == {}
    note = await client2.wait_for_notification("thread/attachment/updated")
    assert note["params"]["operation"] == "deleted" and note["params"]["attachmentId"] == att["id"]
    # Removing what is not there is not an error (Codex), and sends nothing.
    assert await client2.request(
        "thread/attachment/remove", {"threadId": a, "attachmentType": "pr", "identityKey": "k1"}
    ) == {}
    assert (await client2.request("thread/attachment/list", {"threadId": a}))["data"] == []


async def test_metadata_update_patches_git_info(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    tid = await _thread_with_turn(client, mock_model)
    out = await client.request(
        "thread/metadata/update",
        {"threadId": tid, "gitInfo": {"branch": "feat", "originUrl": "https://x/y.git"}},
    )
    assert out["thread"]["id"] == tid
    assert out["thread"]["gitInfo"] == {"sha": None, "branch": "feat", "originUrl": "https://x/y.git"}
    out = await client.request("thread/metadata/update", {"threadId": tid, "gitInfo": {"originUrl": None}})
    assert out["thread"]["gitInfo"] == {"sha": None, "branch": "feat", "originUrl": None}
    bad = await client.request_error("thread/metadata/update", {"threadId": tid})
    assert bad["message"] == "thread metadata update must include at least one field"
    bad = await client.request_error("thread/metadata/update", {"threadId": tid, "gitInfo": {"branch": ""}})
    assert bad["message"] == "gitInfo.branch must not be empty"
    bad = await client.request_error(
        "thread/metadata/update", {"threadId": UNKNOWN, "gitInfo": {"branch": "x"}}
    )
    assert bad["message"] == f"no rollout found for thread id {UNKNOWN}"
    # The edit outlives the loaded thread and the process: thread/list shows it.
    await client.request("thread/unsubscribe", {"threadId": tid})
    await server.stop()
    server2 = await launch_server()
    listed = await server2.client.request("thread/list", {})
    row = next(t for t in listed["data"] if t["id"] == tid)
    assert row["gitInfo"] == {"sha": None, "branch": "feat", "originUrl": None}


async def test_delete_loaded_thread_removes_rollout_state_and_notifies(
    launch_server: LaunchServer, mock_model: MockModel, mock_home: Path, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    tid = await _thread_with_turn(client, mock_model)
    keep = await _thread_with_turn(client, mock_model, "keep me")
    path = Path((await client.request("thread/read", {"threadId": tid}))["thread"]["path"])
    assert store.exists(path)
    await client.request("thread/goal/set", {"threadId": tid, "objective": "x"})
    await client.request(
        "thread/attachment/add", {"threadId": tid, "attachmentType": "t", "identityKey": "k", "payload": 1}
    )
    assert await client.request("thread/delete", {"threadId": tid}) == {}
    status = await client.wait_for_notification(
        "thread/status/changed", predicate=lambda p: p.get("status") == {"type": "notLoaded"}
    )
    assert status["params"]["threadId"] == tid
    deleted = await client.wait_for_notification("thread/deleted")
    assert deleted["params"] == {"threadId": tid}
    assert not store.exists(path)
    assert tid not in (await client.request("thread/loaded/list", {}))["data"]
    assert [t["id"] for t in (await client.request("thread/list", {}))["data"]] == [keep]
    owners = await client.request("thread/attachmentOwner/list", {"attachmentType": "t", "identityKey": "k"})
    assert owners["data"] == []
    bad = await client.request_error("thread/delete", {"threadId": tid})
    assert (bad["code"], bad["message"]) == (-32600, f"no rollout found for thread id {tid}")
    bad = await client.request_error("thread/goal/get", {"threadId": tid})
    assert bad["message"] == f"thread not found: {tid}"
    bad = await client.request_error("thread/delete", {"threadId": "nope"})
    assert bad["code"] == -32600 and bad["message"].startswith("invalid thread id")
    # Gone for a new process too, and the other thread is untouched.
    await server.stop()
    server2 = await launch_server()
    assert [t["id"] for t in (await server2.client.request("thread/list", {}))["data"]] == [keep]
    bad = await server2.client.request_error("thread/resume", {"threadId": tid})
    assert bad["code"] == -32600


async def test_delete_archived_thread_not_loaded(
    launch_server: LaunchServer, mock_model: MockModel, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    tid = await _thread_with_turn(client, mock_model)
    await client.request("thread/archive", {"threadId": tid})
    path = Path((await client.request("thread/list", {"archived": True}))["data"][0]["path"])
    assert store.exists(path)
    await client.request("thread/delete", {"threadId": tid})
    await client.wait_for_notification("thread/deleted")
    assert not store.exists(path)
    assert (await client.request("thread/list", {"archived": True}))["data"] == []


def _user_texts(body: dict[str, Any]) -> list[str]:
    return [
        part["text"]
        for item in body.get("input", [])
        if item.get("type") == "message" and item.get("role") == "user"
        for part in item.get("content", [])
        if part.get("type") == "input_text"
    ]


async def test_revert_drops_the_turn_and_later_ones_from_history(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    tid = await _thread_with_turn(client, mock_model, "alpha")
    await _turn(client, mock_model, tid, "beta")
    await _turn(client, mock_model, tid, "gamma")
    turns = (await client.request("thread/read", {"threadId": tid, "includeTurns": True}))["thread"]["turns"]
    assert len(turns) == 3
    bad = await client.request_error("thread/revert", {"threadId": tid, "beforeTurnId": "x"})
    assert (bad["code"], bad["message"]) == (-32600, "turn not found: x")

    out = await client.request("thread/revert", {"threadId": tid, "beforeTurnId": turns[1]["id"]})
    assert out["thread"]["id"] == tid and out["thread"]["turns"] == []
    reverted = await client.wait_for_notification("thread/reverted")
    assert reverted["params"] == {"threadId": tid}
    kept = (await client.request("thread/read", {"threadId": tid, "includeTurns": True}))["thread"]["turns"]
    assert [t["id"] for t in kept] == [turns[0]["id"]]
    # The model no longer sees the reverted turns.
    await _turn(client, mock_model, tid, "delta")
    texts = _user_texts(mock_model.requests[-1].body)
    assert "alpha" in texts and "delta" in texts
    assert "beta" not in texts and "gamma" not in texts
    # And a new process reads the shorter history from the rollout.
    await server.stop()
    server2 = await launch_server()
    read = await server2.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert len(read["thread"]["turns"]) == 2


async def test_revert_thread_not_loaded(launch_server: LaunchServer, mock_model: MockModel) -> None:
    server = await launch_server()
    client = server.client
    tid = await _thread_with_turn(client, mock_model, "alpha")
    await _turn(client, mock_model, tid, "beta")
    turns = (await client.request("thread/read", {"threadId": tid, "includeTurns": True}))["thread"]["turns"]
    await server.stop()
    server2 = await launch_server()
    client2 = server2.client
    await client2.request("thread/revert", {"threadId": tid, "beforeTurnId": turns[0]["id"]})
    read = await client2.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert read["thread"]["turns"] == []


async def test_goal_tools_offered_and_used_by_the_model(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    # A goal-aware client reads the goal first; that request also makes sure the server
    # relays the tools' changes (see handlers.thread_state.attach).
    assert (await client.request("thread/goal/get", {"threadId": tid}))["goal"] is None
    mock_model.enqueue(
        function_call("create_goal", {"objective": "write the parser", "token_budget": 500}),
        function_call("update_goal", {"status": "complete"}),
        function_call("get_goal", {}),
        function_call("create_goal", {"objective": "another", "token_budget": -1}),
        text("done"),
    )
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "goal please"}]})
    completed = await client.wait_for_notification("turn/completed", timeout=20)
    turn_id = completed["params"]["turn"]["id"]
    names = [t.get("name") for t in mock_model.requests[0].body["tools"]]
    assert {"get_goal", "create_goal", "update_goal"} <= set(names)

    updates = client.received("thread/goal/updated")
    assert [u["params"]["goal"]["status"] for u in updates] == ["active", "complete"]
    assert all(u["params"]["turnId"] == turn_id for u in updates)
    goal = (await client.request("thread/goal/get", {"threadId": tid}))["goal"]
    assert (goal["objective"], goal["status"], goal["tokenBudget"]) == ("write the parser", "complete", 500)

    def output_of(request_index: int) -> Any:
        items = mock_model.requests[request_index].body["input"]
        outs = [i for i in items if i.get("type") == "function_call_output"]
        return outs[-1]["output"]

    created = json.loads(output_of(1))
    assert created["goal"]["objective"] == "write the parser"
    assert created["goal"]["remaining_tokens"] == 500
    got = json.loads(output_of(3))
    assert got["goal"]["status"] == "complete"
    assert "token_budget" in output_of(4)  # the bad budget was refused with a reason


@local_only("another program appends to the rollout file and sets its mtime")
async def test_list_included_ids_and_a_rollout_appended_by_another_program(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    a = await _thread_with_turn(client, mock_model, "older")
    b = await _thread_with_turn(client, mock_model, "newer")
    c = await _thread_with_turn(client, mock_model, "newest")
    only = await client.request("thread/list", {"includedThreadIds": [a, c]})
    assert [t["id"] for t in only["data"]] == [c, a]
    none = await client.request("thread/list", {"includedThreadIds": []})
    assert none["data"] == []
    path = Path((await client.request("thread/read", {"threadId": a}))["thread"]["path"])
    await server.stop()

    server2 = await launch_server()
    client2 = server2.client
    by_update = {"sortKey": "updated_at"}
    before = await client2.request("thread/list", by_update)
    assert [t["id"] for t in before["data"]] == [c, b, a]
    # Codex (another program) appends a turn to `a` while this server runs.
    later = int(before["data"][0]["updatedAt"]) + 3600
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({
            "timestamp": "2030-01-01T00:00:00.000Z", "type": "event_msg",
            "payload": {"type": "user_message", "message": "from codex", "images": []},
        }) + "\n")
    os.utime(path, (later, later))
    await asyncio.sleep(1.1)  # the store trusts its last look at the rollouts for 1 s
    after = await client2.request("thread/list", by_update)
    assert [t["id"] for t in after["data"]] == [a, c, b]
    assert after["data"][0]["updatedAt"] == later


async def test_a_turn_is_charged_to_the_active_goal(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    tid = await _thread_with_turn(client, mock_model)
    await client.request("thread/goal/set", {"threadId": tid, "objective": "o", "tokenBudget": 100})
    await client.wait_for_notification("thread/goal/updated")
    mock_model.enqueue(text("working", usage=usage(input=50, output=10)))
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "go"}]})
    charged = await client.wait_for_notification("thread/goal/updated", timeout=20)
    assert charged["params"]["goal"]["tokensUsed"] == 60
    assert charged["params"]["goal"]["status"] == "active"
    mock_model.enqueue(text("more", usage=usage(input=40, output=10)))
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "again"}]})
    limited = await client.wait_for_notification("thread/goal/updated", timeout=20)
    assert limited["params"]["goal"]["tokensUsed"] == 110
    assert limited["params"]["goal"]["status"] == "budgetLimited"
    # A goal that is not active is not charged any more.
    await _turn(client, mock_model, tid, "third")
    goal = (await client.request("thread/goal/get", {"threadId": tid}))["goal"]
    assert goal["tokensUsed"] == 110


async def test_delete_refused_while_another_process_has_the_thread(
    launch_server: LaunchServer, mock_model: MockModel, store: StoreUnderTest
) -> None:
    holder = await launch_server()
    tid = await _thread_with_turn(holder.client, mock_model)
    path = Path((await holder.client.request("thread/read", {"threadId": tid}))["thread"]["path"])
    other = await launch_server()
    bad = await other.client.request_error("thread/delete", {"threadId": tid})
    assert bad["code"] == -32600 and "in use by another threadline process" in bad["message"]
    assert store.exists(path)
    await _turn(holder.client, mock_model, tid, "still mine")  # the holder is unaffected
    await holder.stop()
    assert await other.client.request("thread/delete", {"threadId": tid}) == {}
    assert not store.exists(path)


async def test_an_ephemeral_thread_has_no_goal(launch_server: LaunchServer, mock_model: MockModel) -> None:
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {"ephemeral": True}))["thread"]["id"]
    bad = await client.request_error("thread/goal/set", {"threadId": tid, "objective": "x"})
    assert (bad["code"], bad["message"]) == (-32600, f"ephemeral thread does not support goals: {tid}")
    assert (await client.request("thread/goal/get", {"threadId": tid}))["goal"] is None
