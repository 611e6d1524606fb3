"""Context compaction on the real app-server (in-process, memory transport) against the mock
model over HTTP, with a 4,000-token window and a 3,000-token auto-compact limit.

What Codex 0.169 did in the same situations (recorded with the real binary against the same
mock: ``codex app-server``, ``model_context_window = 4000``, ``model_auto_compact_token_limit
= 3000``) is the expectation for the shapes: the compaction request is an ordinary request
with no tools whose last input item is the hand-off prompt; the next request carries the
initial context, the retained user messages, the prefixed summary and the new message; the
rollout gets a ``compacted`` line with ``message``, ``replacement_history`` and the window
fields, a ``token_count`` whose ``last`` is the estimate, and the ``ContextCompaction``
``item_completed``. The test that reads the stored lines runs on the local store and on
PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from tests.conftest import stop_and_check
from tests.e2e.conftest import write_mock_config
from tests.support.appserver import AppServerClient
from tests.support.memory_server import InProcessServer
from tests.support.mock_model import (
    MockModel,
    RecordedRequest,
    Script,
    context_length_exceeded,
    function_call,
    text,
    usage,
)
from tests.support.schema import SchemaRegistry
from tests.support.stores import StoreUnderTest, both_stores

from threadline.core.compaction import (
    MAX_CONSECUTIVE_COMPACTIONS,
    compact_prompt,
    summary_prefix,
)
from threadline.protocol.items import MessageItem
from threadline.rollout.history import model_history
from threadline.rollout.reader import parse_lines

Start = Callable[..., Awaitable[InProcessServer]]

WINDOW = "model_context_window = 4000\nmodel_auto_compact_token_limit = 3000\n"
BIG = usage(input=3500, output=50)
SMALL = usage(input=500, output=20)


@pytest_asyncio.fixture
async def start(
    tmp_path: Path, mock_model: MockModel, schema: SchemaRegistry, store: StoreUnderTest
) -> AsyncIterator[Start]:
    servers: list[InProcessServer] = []

    async def launch(
        extra: str = WINDOW, provider_extra: str = "", wire: str = "responses"
    ) -> InProcessServer:
        home = tmp_path / f"home{len(servers)}"
        path = write_mock_config(
            home,
            mock_model.base_url,
            request_max_retries=0,
            extra=extra + store.config,
            provider_extra=provider_extra,
        )
        if wire != "responses":
            body = path.read_text(encoding="utf-8")
            path.write_text(body.replace('wire_api = "responses"', f'wire_api = "{wire}"'))
        server = InProcessServer(home)
        servers.append(server)
        await server.connect()
        return server

    yield launch
    await stop_and_check(servers)
    store.check_no_rollout_files([server.home for server in servers])


async def new_thread(client: AppServerClient, cwd: Path) -> str:
    started = await client.request("thread/start", {"cwd": str(cwd)})
    return str(started["thread"]["id"])


async def run_turn(client: AppServerClient, tid: str, words: str) -> dict[str, Any]:
    await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": words}]}
    )
    done = await client.wait_for_notification("turn/completed", timeout=30)
    return dict(done["params"]["turn"])


def texts(request: RecordedRequest) -> list[tuple[str, str]]:
    """``(role, text)`` of each message of a recorded Responses request."""
    out = []
    for item in request.body["input"]:
        if item.get("type") == "message":
            joined = "".join(p.get("text", "") for p in item["content"])
            out.append((item["role"], joined))
        else:
            out.append((item["type"], ""))
    return out


def rollout_lines(store: StoreUnderTest, server: InProcessServer) -> list[dict[str, Any]]:
    files = list(store.histories(server.home).values())
    assert len(files) == 1
    return [json.loads(line) for line in files[0]]


def methods(client: AppServerClient) -> list[str]:
    out = []
    for rec in client.records:
        msg = rec.message
        if rec.direction == "s2c" and isinstance(msg, dict) and "method" in msg:
            method = msg["method"]
            if method == "account/rateLimits/updated":
                continue
            if method in ("item/started", "item/completed"):
                method += ":" + msg["params"]["item"]["type"]
            out.append(method)
    return out


@both_stores
async def test_pre_turn_compaction_replaces_the_history_and_writes_codex_line(
    start: Start, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    server = await start()
    client = server.client
    tid = await new_thread(client, tmp_path)
    mock_model.enqueue(text("first answer", usage=BIG))
    await run_turn(client, tid, "hello one")
    mock_model.enqueue(text("THE HAND-OFF NOTE", usage=SMALL), text("second answer", usage=SMALL))
    turn = await run_turn(client, tid, "hello two")
    assert turn["status"] == "completed"

    first, compaction, after = mock_model.requests
    # The compaction request: the whole history, then the prompt; no tools.
    assert compaction.body["tools"] == []
    assert texts(compaction)[:-1] == [*texts(first), ("assistant", "first answer")]
    assert texts(compaction)[-1] == ("user", compact_prompt())
    # The next request: base instructions, the initial context, the retained user message,
    # the summary behind threadline's prefix, then the new message. Nothing else.
    roles = texts(after)
    assert roles[0][0] == "developer"
    assert "<environment_context>" in roles[1][1]
    assert roles[2:] == [
        ("user", "hello one"),
        ("user", f"{summary_prefix()}\nTHE HAND-OFF NOTE"),
        ("user", "hello two"),
    ]

    seen = methods(client)
    start_at = seen.index("item/started:contextCompaction")
    assert seen[start_at : start_at + 6] == [
        "item/started:contextCompaction",
        "thread/tokenUsage/updated",  # the summary request's own usage
        "thread/tokenUsage/updated",  # the recomputed usage of the new history
        "item/completed:contextCompaction",
        "thread/compacted",
        "warning",
    ]
    assert seen.index("item/started:userMessage", start_at) > start_at

    lines = rollout_lines(store, server)
    compacted = [ln for ln in lines if ln["type"] == "compacted"]
    assert len(compacted) == 1
    payload = compacted[0]["payload"]
    assert payload["message"] == f"{summary_prefix()}\nTHE HAND-OFF NOTE"
    assert [m["role"] for m in payload["replacement_history"]] == ["user", "user", "user"]
    assert payload["window_number"] == 1
    assert payload["previous_window_id"] == payload["first_window_id"] != payload["window_id"]
    index = lines.index(compacted[0])
    after_lines = [(ln["type"], ln["payload"].get("type")) for ln in lines[index : index + 4]]
    assert after_lines == [
        ("compacted", None),
        ("turn_context", None),
        ("event_msg", "token_count"),
        ("event_msg", "item_completed"),
    ]
    recount = lines[index + 2]["payload"]["info"]
    assert recount["total_token_usage"]["total_tokens"] == 3550 + 520
    assert 0 < recount["last_token_usage"]["total_tokens"] < 3000
    assert lines[index + 3]["payload"]["item"]["type"] == "ContextCompaction"

    # The transcript is not rewritten: both turns, and the compaction item, are still read.
    read = await client.request("thread/read", {"threadId": tid, "includeTurns": True})
    turns = read["thread"]["turns"]
    assert len(turns) == 2
    kinds = [i["type"] for i in turns[1]["items"]]
    assert "contextCompaction" in kinds and "userMessage" in kinds

    # Resume rebuilds the model's history from the compacted line on.
    [stored] = store.histories(server.home).values()
    rebuilt = model_history(parse_lines("\n".join(stored).encode())[0])
    rebuilt_texts = [(i.role, i.text()) for i in rebuilt if isinstance(i, MessageItem)]
    assert rebuilt_texts[1:] == [*roles[2:], ("assistant", "second answer")]


async def test_mid_turn_compaction_after_a_tool_call_continues_the_turn(
    start: Start, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await start()
    client = server.client
    tid = await new_thread(client, tmp_path)
    plan = {"plan": [{"step": "look", "status": "in_progress"}]}
    mock_model.enqueue(
        function_call("update_plan", plan, usage=BIG),
        text("NOTE MID TURN", usage=SMALL),
        text("finished after compacting", usage=SMALL),
    )
    turn = await run_turn(client, tid, "do the thing")
    assert turn["status"] == "completed"
    assert len(mock_model.requests) == 3
    follow_up = texts(mock_model.requests[2])
    assert follow_up[-2:] == [
        ("user", "do the thing"),
        ("user", f"{summary_prefix()}\nNOTE MID TURN"),
    ]
    seen = methods(client)
    assert seen.index("item/completed:contextCompaction") < seen.index("turn/completed")
    items = [i["type"] for i in turn["items"]] if turn["items"] else []
    assert "agentMessage" in items or not items


async def test_thread_compact_start_is_a_turn_that_cannot_be_steered(
    start: Start, mock_model: MockModel, tmp_path: Path
) -> None:
    from tests.support.mock_model import Gate

    server = await start()
    client = server.client
    tid = await new_thread(client, tmp_path)
    mock_model.enqueue(text("first answer", usage=SMALL))
    first = await run_turn(client, tid, "hello")
    gate = Gate()
    mock_model.enqueue(text("MANUAL NOTE", usage=SMALL, gate=gate))
    assert await client.request("thread/compact/start", {"threadId": tid}) == {}
    started = await client.wait_for_notification(
        "turn/started", predicate=lambda p: p["turn"]["id"] != first["id"]
    )
    turn_id = started["params"]["turn"]["id"]
    await client.wait_for_notification(
        "item/started", predicate=lambda p: p["item"]["type"] == "contextCompaction"
    )
    error = await client.request_error(
        "turn/steer",
        {"threadId": tid, "expectedTurnId": turn_id, "input": [{"type": "text", "text": "x"}]},
    )
    assert error["data"] == {
        "codexErrorInfo": {"activeTurnNotSteerable": {"turnKind": "compact"}}
    }, error
    gate.set()
    done = await client.wait_for_notification("turn/completed", timeout=30)
    assert done["params"]["turn"]["status"] == "completed"
    assert texts(mock_model.requests[-1])[-1] == ("user", compact_prompt())
    mock_model.enqueue(text("after", usage=SMALL))
    await run_turn(client, tid, "next")
    assert texts(mock_model.requests[-1])[-2:] == [
        ("user", f"{summary_prefix()}\nMANUAL NOTE"),
        ("user", "next"),
    ]


async def test_a_thread_that_stays_too_big_fails_after_three_compactions(
    start: Start, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await start()
    client = server.client
    tid = await new_thread(client, tmp_path)
    plan = {"plan": [{"step": "again", "status": "in_progress"}]}

    def script(request: RecordedRequest) -> Script:
        if texts(request)[-1] == ("user", compact_prompt()):
            return text("note", usage=SMALL)
        return function_call("update_plan", plan, usage=usage(input=3900, output=50))

    mock_model.set_default(script)
    turn = await run_turn(client, tid, "loop forever")
    assert turn["status"] == "failed"
    assert turn["error"]["codexErrorInfo"] == "contextWindowExceeded"
    assert "cannot be compacted any further" in turn["error"]["message"]
    compactions = [r for r in mock_model.requests if texts(r)[-1] == ("user", compact_prompt())]
    assert len(compactions) == MAX_CONSECUTIVE_COMPACTIONS
    assert len(mock_model.requests) == 2 * MAX_CONSECUTIVE_COMPACTIONS + 1


async def test_context_length_exceeded_during_compaction_trims_and_retries(
    start: Start, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await start()
    client = server.client
    tid = await new_thread(client, tmp_path)
    mock_model.enqueue(text("a", usage=SMALL))
    await run_turn(client, tid, "one")
    mock_model.enqueue(text("b", usage=BIG))
    await run_turn(client, tid, "two")
    mock_model.enqueue(
        context_length_exceeded(),
        context_length_exceeded(streamed=False),
        text("NOTE AFTER TRIM", usage=SMALL),
        text("three done", usage=SMALL),
    )
    turn = await run_turn(client, tid, "three")
    assert turn["status"] == "completed"
    tries = mock_model.requests[2:5]
    sizes = [len(r.body["input"]) for r in tries]
    assert sizes[0] > sizes[1] > sizes[2]
    warnings = [
        r.message["params"]["message"]
        for r in client.records
        if r.direction == "s2c" and r.message.get("method") == "warning"
    ]
    assert any("2 oldest item(s)" in w for w in warnings), warnings
    assert texts(mock_model.requests[-1])[-2] == ("user", f"{summary_prefix()}\nNOTE AFTER TRIM")


async def test_chat_completions_provider_compacts_locally(
    start: Start, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await start(wire="chat")
    client = server.client
    tid = await new_thread(client, tmp_path)
    mock_model.enqueue(text("first", usage=BIG))
    await run_turn(client, tid, "hello chat")
    mock_model.enqueue(text("CHAT NOTE", usage=SMALL), text("second", usage=SMALL))
    turn = await run_turn(client, tid, "again")
    assert turn["status"] == "completed"
    paths = {r.path for r in mock_model.requests}
    assert paths == {"/v1/chat/completions"}
    compaction = mock_model.requests[1].body["messages"]
    assert compaction[-1]["content"] == compact_prompt()
    last = mock_model.requests[2].body["messages"]
    contents = [m["content"] for m in last]
    assert f"{summary_prefix()}\nCHAT NOTE" in contents
    assert "first" not in contents


async def test_fifty_turns_in_a_small_window_keep_working(
    start: Start, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await start()
    client = server.client
    tid = await new_thread(client, tmp_path)

    def sized(request: RecordedRequest) -> Script:
        """Usage grows with the request, as a real model's would (a quarter of its bytes)."""
        tokens = len(json.dumps(request.body["input"])) // 4
        if texts(request)[-1] == ("user", compact_prompt()):
            return text("short note", usage=usage(input=tokens, output=10))
        return text("answer " + "x" * 600, usage=usage(input=tokens, output=150))

    mock_model.set_default(sized)
    for n in range(50):
        turn = await run_turn(client, tid, f"turn {n}")
        assert turn["status"] == "completed", turn
    compactions = [r for r in mock_model.requests if texts(r)[-1] == ("user", compact_prompt())]
    assert 3 <= len(compactions) < 50
    biggest = max(len(json.dumps(r.body["input"])) // 4 for r in mock_model.requests)
    assert biggest < 4000
    read = await client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert len(read["thread"]["turns"]) == 50


CODEX_ROLLOUT = Path(__file__).parent / "data" / "codex_0169_compacted.jsonl"
"""Written by the real Codex 0.169 app-server against the mock (window 4,000, limit 3,000):
a turn reporting 3,550 tokens, then a turn that compacted before its user message."""


def test_codex_rollout_with_a_compacted_line_rebuilds_from_it() -> None:
    lines = parse_lines(CODEX_ROLLOUT.read_bytes())[0]
    raw = [json.loads(x) for x in CODEX_ROLLOUT.read_text().splitlines()]
    compacted = next(x["payload"] for x in raw if x["type"] == "compacted")
    history = model_history(lines)
    replaced = [(m["role"], m["content"][0]["text"]) for m in compacted["replacement_history"]]
    rebuilt = [(i.role, i.text()) for i in history if isinstance(i, MessageItem)]
    assert [(r, t[:40]) for r, t in rebuilt[: len(replaced)]] == [(r, t[:40]) for r, t in replaced]
    assert rebuilt[len(replaced) :] == [("user", "hello two"), ("assistant", "second answer")]
    assert not any(t == "first answer" for _, t in rebuilt)
    # The line carries the fields threadline writes too, with the same meaning.
    assert {"message", "replacement_history", "window_number", "window_id"} <= set(compacted)
    assert compacted["window_number"] == 1
    assert compacted["previous_window_id"] == compacted["first_window_id"]
