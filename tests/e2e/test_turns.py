"""Turns over the real stdio app-server against the mock model (issue 3 acceptance).

Each test spawns ``python -m threadline app-server``, points it at a live
:class:`MockModel` and checks what the client receives and what the model was sent.
Every server message is schema-checked by the harness.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import StartClient
from tests.support.appserver import AppServerClient
from tests.support.mock_model import (
    MockModel,
    RecordedRequest,
    function_call,
    http_error,
    text,
    usage,
)

TRACES = Path(__file__).resolve().parents[2].parent / "shared/reference/codex-0.169.0/traces"

# ---- helpers -----------------------------------------------------------------------------


async def start_thread(client: AppServerClient, cwd: Path | None = None) -> str:
    params: dict[str, Any] = {}
    if cwd is not None:
        params["cwd"] = str(cwd)
    result = await client.request("thread/start", params)
    thread_id: str = result["thread"]["id"]
    await client.wait_for_notification("thread/started")
    return thread_id


async def start_turn(client: AppServerClient, thread_id: str, message: str) -> str:
    result = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": message}]}
    )
    turn = result["turn"]
    assert turn["status"] == "inProgress"
    turn_id: str = turn["id"]
    return turn_id


async def collect_turn(
    client: AppServerClient, turn_id: str, timeout: float = 10
) -> list[dict[str, Any]]:
    """Read messages in arrival order until ``turn/completed`` for ``turn_id``."""
    out: list[dict[str, Any]] = []
    while True:
        message = await client.next_message(timeout)
        out.append(message)
        if message.get("method") == "turn/completed" and message["params"]["turn"]["id"] == turn_id:
            return out


def methods(messages: list[dict[str, Any]]) -> list[str]:
    """Method names with runs of identical deltas collapsed to one entry."""
    out: list[str] = []
    for m in messages:
        name = m.get("method", "<answer>")
        if out and out[-1] == name and name.endswith("/delta"):
            continue
        out.append(name)
    return out


def of(messages: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [m["params"] for m in messages if m.get("method") == method]


def user_texts(request: RecordedRequest) -> list[str]:
    texts = []
    for item in request.body["input"]:
        if item.get("type") == "message" and item.get("role") == "user":
            texts.extend(p.get("text", "") for p in item["content"])
    return texts


def reference_turn_order(trace: str) -> list[str]:
    """The s2c methods after the first ``turn/start`` up to its ``turn/completed``, from a trace."""
    seen_turn_start = False
    out: list[str] = []
    for line in (TRACES / trace).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        msg = record.get("msg") or {}
        if record["dir"] == "c2s" and msg.get("method") == "turn/start":
            seen_turn_start = True
            continue
        if not seen_turn_start or record["dir"] != "s2c":
            continue
        name = msg.get("method", "<answer>")
        if out and out[-1] == name and name.endswith("/delta"):
            continue
        out.append(name)
        if name == "turn/completed":
            return out
    raise AssertionError(f"no complete turn in {trace}")


def _undelta(names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith("/delta")]


def reference_after(trace: str, method: str) -> list[str]:
    """The s2c methods (deltas dropped) after the first ``method`` request up to ``turn/completed``."""
    out: list[str] = []
    seen = False
    for line in (TRACES / trace).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        msg = record.get("msg") or {}
        if record["dir"] == "c2s" and msg.get("method") == method:
            seen = True
            continue
        if seen and record["dir"] == "s2c":
            out.append(msg.get("method", "<answer>"))
            if out[-1] == "turn/completed":
                return _undelta(out)
    raise AssertionError(f"no {method} in {trace}")


def observed_after(client: AppServerClient, method: str) -> list[str]:
    """Like :func:`reference_after` for the last ``method`` request this client sent."""
    start = max(
        i
        for i, r in enumerate(client.records)
        if r.direction == "c2s" and json.loads(r.message).get("method") == method
    )
    out: list[str] = []
    for r in client.records[start + 1 :]:
        if r.direction != "s2c":
            continue
        out.append(r.message.get("method", "<answer>"))
        if out[-1] == "turn/completed":
            break
    return _undelta(out)


def usage_numbers(params: dict[str, Any], which: str) -> tuple[int, int, int, int, int]:
    u = params["tokenUsage"][which]
    return (
        u["totalTokens"],
        u["inputTokens"],
        u["cachedInputTokens"],
        u["outputTokens"],
        u["reasoningOutputTokens"],
    )


# ---- plain turn --------------------------------------------------------------------------


async def test_plain_turn_matches_reference_order(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(
        text("Hello there, this is the mock.", usage=usage(1000, 0, 50, 10), item_id="msg_a")
    )
    client = await start_client()
    thread_id = await start_thread(client, tmp_path)
    turn_id = await start_turn(client, thread_id, "Say hello")
    messages = await collect_turn(client, turn_id)

    expected = [m for m in reference_turn_order("s01_basic.jsonl") if m != "warning"]
    expected.remove("<answer>")  # our harness consumes the turn/start answer itself
    assert methods(messages) == expected

    started = of(messages, "item/started")
    completed = of(messages, "item/completed")
    assert [p["item"]["type"] for p in started] == ["userMessage", "agentMessage"]
    assert [p["item"]["type"] for p in completed] == ["userMessage", "agentMessage"]
    assert completed[0]["item"]["content"][0]["text"] == "Say hello"
    agent = completed[1]["item"]
    assert agent["id"] == "msg_a"
    assert agent["text"] == "Hello there, this is the mock."
    deltas = of(messages, "item/agentMessage/delta")
    assert "".join(d["delta"] for d in deltas) == agent["text"]
    assert all(d["itemId"] == "msg_a" and d["turnId"] == turn_id for d in deltas)

    [tokens] = of(messages, "thread/tokenUsage/updated")
    assert tokens["turnId"] == turn_id
    assert usage_numbers(tokens, "total") == (1050, 1000, 0, 50, 10)
    assert usage_numbers(tokens, "last") == (1050, 1000, 0, 50, 10)

    statuses = of(messages, "thread/status/changed")
    assert [s["status"]["type"] for s in statuses] == ["active", "idle"]
    [done] = of(messages, "turn/completed")
    turn = done["turn"]
    assert turn["status"] == "completed"
    assert turn["itemsView"] == "summary"
    assert [i["id"] for i in turn["items"]] == ["msg_a"]
    assert "usage" not in turn

    [request] = mock_model.requests
    body = request.body
    assert body["model"] == "mock-model"
    assert body["stream"] is True
    assert user_texts(request)[-1] == "Say hello"
    assert "update_plan" in [t.get("name") for t in body["tools"]]
    assert body["prompt_cache_key"] == thread_id
    assert "instructions" not in body
    assert body["input"][0]["role"] == "developer"  # the base instructions come first
    # The identifying headers of the reference requests (REPORT §8).
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["originator"] == "threadline_tests"  # the client's clientInfo.name
    for name in ("session-id", "thread-id", "x-client-request-id"):
        assert headers[name] == thread_id


async def test_multi_turn_usage_accumulates(
    start_client: StartClient, mock_model: MockModel
) -> None:
    # The per-response numbers of the reference s09 scenario.
    mock_model.enqueue(
        text("one", usage=usage(1000, 0, 50, 10)),
        text("two", usage=usage(1500, 900, 80, 20)),
        text("three", usage=usage(2100, 1400, 120, 0)),
    )
    client = await start_client()
    thread_id = await start_thread(client)
    totals, lasts, finals = [], [], []
    for prompt in ("first", "second", "third"):
        turn_id = await start_turn(client, thread_id, prompt)
        messages = await collect_turn(client, turn_id)
        [tokens] = of(messages, "thread/tokenUsage/updated")
        assert tokens["turnId"] == turn_id
        assert tokens["tokenUsage"]["modelContextWindow"] is not None
        totals.append(usage_numbers(tokens, "total"))
        lasts.append(usage_numbers(tokens, "last"))
        finals.append(of(messages, "turn/completed")[0]["turn"]["items"][0]["text"])

    assert totals == [
        (1050, 1000, 0, 50, 10),
        (2630, 2500, 900, 130, 30),
        (4850, 4600, 2300, 250, 30),
    ]
    assert lasts == [
        (1050, 1000, 0, 50, 10),
        (1580, 1500, 900, 80, 20),
        (2220, 2100, 1400, 120, 0),
    ]
    assert finals == ["one", "two", "three"]
    # Every request resends the whole history: the third holds both earlier exchanges.
    third = mock_model.requests[2]
    assert user_texts(third)[-3:] == ["first", "second", "third"]
    assistant = [
        i["content"][0]["text"]
        for i in third.body["input"]
        if i.get("type") == "message" and i.get("role") == "assistant"
    ]
    assert assistant == ["one", "two"]


# ---- tools -------------------------------------------------------------------------------


async def test_tool_call_round_trip(start_client: StartClient, mock_model: MockModel) -> None:
    plan = {"plan": [{"step": "look around", "status": "in_progress"}]}
    mock_model.enqueue(
        function_call("update_plan", plan, call_id="call_plan_1", usage=usage(500, 0, 40)),
        text("Plan recorded.", usage=usage(700, 500, 20)),
    )
    client = await start_client()
    thread_id = await start_thread(client)
    turn_id = await start_turn(client, thread_id, "Make a plan")
    messages = await collect_turn(client, turn_id)

    first, second = mock_model.requests
    assert [t["name"] for t in first.body["tools"] if t.get("name") == "update_plan"]
    calls = [i for i in second.body["input"] if i.get("type") == "function_call"]
    outputs = [i for i in second.body["input"] if i.get("type") == "function_call_output"]
    assert [c["call_id"] for c in calls] == ["call_plan_1"]
    assert json.loads(calls[0]["arguments"]) == plan
    assert [o["call_id"] for o in outputs] == ["call_plan_1"]
    assert "[in_progress] look around" in outputs[0]["output"]
    # The output follows its call in the history.
    kinds = [i.get("type") for i in second.body["input"]]
    assert kinds.index("function_call_output") == kinds.index("function_call") + 1

    # One usage notification per model response; total sums both, last is the latest.
    tokens = of(messages, "thread/tokenUsage/updated")
    assert [usage_numbers(t, "total")[0] for t in tokens] == [540, 1260]
    assert [usage_numbers(t, "last")[0] for t in tokens] == [540, 720]
    [done] = of(messages, "turn/completed")
    assert done["turn"]["status"] == "completed"
    assert done["turn"]["items"][0]["text"] == "Plan recorded."


# ---- steer -------------------------------------------------------------------------------


async def test_steer_mid_turn(start_client: StartClient, mock_model: MockModel) -> None:
    slow = " ".join(f"n{i}" for i in range(60))
    mock_model.enqueue(
        text(slow, delay_s=0.05, usage=usage(900, 0, 99), item_id="msg_slow"),
        text("Bananas noted.", usage=usage(1400, 1000, 20), item_id="msg_after"),
    )
    client = await start_client()
    thread_id = await start_thread(client)
    turn_id = await start_turn(client, thread_id, "Count slowly")
    await client.wait_for_notification("item/agentMessage/delta")

    # A wrong expected turn id is refused with the reference message and structured data.
    error = await client.request_error(
        "turn/steer",
        {
            "threadId": thread_id,
            "expectedTurnId": "not-the-turn",
            "input": [{"type": "text", "text": "ignored"}],
        },
    )
    assert error["code"] == -32600
    assert error["message"] == f"expected active turn id `not-the-turn` but found `{turn_id}`"
    assert error["data"]["expectedTurnId"] == "not-the-turn"
    assert error["data"]["activeTurnId"] == turn_id
    empty = await client.request_error(
        "turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id, "input": []}
    )
    assert empty["message"] == "input must not be empty"

    result = await client.request(
        "turn/steer",
        {
            "threadId": thread_id,
            "expectedTurnId": turn_id,
            "input": [{"type": "text", "text": "Also mention bananas."}],
        },
    )
    assert result == {"turnId": turn_id}
    messages = await collect_turn(client, turn_id)
    assert observed_after(client, "turn/steer") == reference_after(
        "s07_steer_interrupt.jsonl", "turn/steer"
    )

    second = mock_model.requests[1]
    assert user_texts(second)[-2:] == ["Count slowly", "Also mention bananas."]
    assert not any(
        i.get("role") == "assistant" for i in second.body["input"] if i.get("type") == "message"
    ), "the cut-off partial answer must not reach the model"
    await mock_model.async_wait_for_disconnects(1)

    completed = [p["item"] for p in of(messages, "item/completed")]
    assert [(i["type"], i.get("text")) for i in completed] == [
        ("userMessage", None),
        ("userMessage", None),
        ("agentMessage", "Bananas noted."),
    ]
    assert [i["content"][0]["text"] for i in completed[:2]] == [
        "Count slowly",
        "Also mention bananas.",
    ]
    assert all(p["turnId"] == turn_id for p in of(messages, "item/completed"))
    assert not [p for p in of(messages, "item/completed") if p["item"]["id"] == "msg_slow"]
    # The aborted stream's usage is never counted.
    [tokens] = of(messages, "thread/tokenUsage/updated")
    assert usage_numbers(tokens, "total")[0] == 1420
    [done] = of(messages, "turn/completed")
    assert done["turn"]["status"] == "completed"

    no_turn = await client.request_error(
        "turn/steer",
        {
            "threadId": thread_id,
            "expectedTurnId": turn_id,
            "input": [{"type": "text", "text": "x"}],
        },
    )
    assert no_turn["message"] == "no active turn to steer"


async def test_turn_start_on_busy_thread_steers(
    start_client: StartClient, mock_model: MockModel
) -> None:
    slow = " ".join(f"s{i}" for i in range(60))
    mock_model.enqueue(text(slow, delay_s=0.05), text("Done."))
    client = await start_client()
    thread_id = await start_thread(client)
    turn_id = await start_turn(client, thread_id, "Start")
    await client.wait_for_notification("item/agentMessage/delta")
    same = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "Joined"}]}
    )
    assert same["turn"]["id"] == turn_id
    messages = await collect_turn(client, turn_id)
    assert user_texts(mock_model.requests[1])[-2:] == ["Start", "Joined"]
    assert of(messages, "turn/completed")[0]["turn"]["items"][0]["text"] == "Done."


# ---- interrupt ---------------------------------------------------------------------------


async def test_interrupt_mid_stream(start_client: StartClient, mock_model: MockModel) -> None:
    slow = " ".join(f"w{i}" for i in range(200))
    mock_model.enqueue(
        text("Warm up.", usage=usage(1000, 0, 20)),
        text(slow, delay_s=0.02, usage=usage(5000, 0, 500)),
        text("Back again."),
    )
    client = await start_client()
    thread_id = await start_thread(client)
    warm = await start_turn(client, thread_id, "warm up")
    await collect_turn(client, warm)

    turn_id = await start_turn(client, thread_id, "Count forever")
    await client.wait_for_notification("item/agentMessage/delta")

    wrong = await client.request_error(
        "turn/interrupt", {"threadId": thread_id, "turnId": "some-other-turn"}
    )
    assert wrong["code"] == -32600
    assert wrong["message"] == f"expected active turn id some-other-turn but found {turn_id}"

    assert await client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id}) == {}
    answered_at = len(client.records)
    messages = await collect_turn(client, turn_id)
    await mock_model.async_wait_for_disconnects(1)
    await asyncio.sleep(0.2)  # any stray delta would arrive now
    assert observed_after(client, "turn/interrupt") == reference_after(
        "s07_steer_interrupt.jsonl", "turn/interrupt"
    )

    after = [r.message for r in client.records[answered_at:] if r.direction == "s2c"]
    assert not [m for m in after if m.get("method") == "item/agentMessage/delta"]
    [done] = of(messages, "turn/completed")
    assert done["turn"]["status"] == "interrupted"
    assert done["turn"]["items"] == []
    assert not [p for p in of(messages, "item/completed") if p["item"]["type"] == "agentMessage"], (
        "the partial answer is dropped"
    )
    # Usage: one notification before the answer, totals unchanged.
    tokens = [m["params"] for m in client.received("thread/tokenUsage/updated")]
    assert tokens[-1]["turnId"] == turn_id
    assert usage_numbers(tokens[-1], "total")[0] == 1020
    before_answer = [
        r.message
        for r in client.records[:answered_at]
        if r.direction == "s2c" and r.message.get("method") == "thread/tokenUsage/updated"
    ]
    assert before_answer[-1]["params"]["turnId"] == turn_id

    # The next turn shows the model the <turn_aborted> marker and no partial answer.
    nxt = await start_turn(client, thread_id, "again")
    await collect_turn(client, nxt)
    texts = user_texts(mock_model.requests[2])
    assert texts[-1] == "again"
    assert texts[-2].startswith("<turn_aborted>")
    assert "Count forever" in texts

    no_turn = await client.request_error("turn/interrupt", {"threadId": thread_id, "turnId": nxt})
    assert no_turn["message"] == "no active turn to interrupt"


# ---- model errors ------------------------------------------------------------------------


async def test_model_500_then_success(start_client: StartClient, mock_model: MockModel) -> None:
    mock_model.enqueue(http_error(500), text("Recovered.", usage=usage(10, 0, 5)))
    client = await start_client()
    thread_id = await start_thread(client)
    turn_id = await start_turn(client, thread_id, "hi")
    messages = await collect_turn(client, turn_id)

    assert len(mock_model.requests) == 2
    [err] = of(messages, "error")
    assert err["willRetry"] is True
    assert err["turnId"] == turn_id
    assert "500" in err["error"]["message"]
    [done] = of(messages, "turn/completed")
    assert done["turn"]["status"] == "completed"
    assert done["turn"]["items"][0]["text"] == "Recovered."
    # the retry notice comes before the answer streams
    names = methods(messages)
    assert names.index("error") < names.index("item/agentMessage/delta")


async def test_model_errors_exhaust_retries(
    start_client: StartClient, mock_model: MockModel
) -> None:
    # config.toml allows 2 retries: three attempts in all
    mock_model.enqueue(http_error(503), http_error(503), http_error(503), text("next turn works"))
    client = await start_client()
    thread_id = await start_thread(client)
    turn_id = await start_turn(client, thread_id, "hi")
    messages = await collect_turn(client, turn_id)

    assert len(mock_model.requests) == 3
    errors = of(messages, "error")
    assert [e["willRetry"] for e in errors] == [True, True, False]
    final = errors[-1]["error"]
    assert "HTTP 503" in final["message"]
    assert "3 attempts" in final["message"]
    [done] = of(messages, "turn/completed")
    turn = done["turn"]
    assert turn["status"] == "failed"
    assert turn["error"]["message"] == final["message"]
    assert [s["status"]["type"] for s in of(messages, "thread/status/changed")] == [
        "active",
        "idle",
    ]
    # The thread stays usable.
    nxt = await start_turn(client, thread_id, "again")
    again = await collect_turn(client, nxt)
    assert of(again, "turn/completed")[0]["turn"]["status"] == "completed"


# ---- out-of-band elicitation pause -------------------------------------------------------


async def test_oob_elicitation_pauses_sampling(
    start_client: StartClient, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("after the pause"))
    client = await start_client()
    thread_id = await start_thread(client)

    inc = await client.request("thread/increment_elicitation", {"threadId": thread_id})
    assert inc == {"count": 1, "paused": True}
    inc2 = await client.request("thread/increment_elicitation", {"threadId": thread_id})
    assert inc2 == {"count": 2, "paused": True}

    turn_id = await start_turn(client, thread_id, "wait for it")
    await asyncio.sleep(0.4)
    assert mock_model.requests == [], "no model request while paused"

    dec = await client.request("thread/decrement_elicitation", {"threadId": thread_id})
    assert dec == {"count": 1, "paused": True}
    await asyncio.sleep(0.2)
    assert mock_model.requests == []
    dec2 = await client.request("thread/decrement_elicitation", {"threadId": thread_id})
    assert dec2 == {"count": 0, "paused": False}

    messages = await collect_turn(client, turn_id)
    assert len(mock_model.requests) == 1
    assert of(messages, "turn/completed")[0]["turn"]["status"] == "completed"

    error = await client.request_error("thread/decrement_elicitation", {"threadId": thread_id})
    assert error["code"] == -32600
    assert "zero" in error["message"]


# ---- concurrency -------------------------------------------------------------------------


async def test_twenty_threads_concurrently(
    start_client: StartClient, mock_model: MockModel
) -> None:
    n_threads, n_words = 20, 60

    def answer(request: RecordedRequest) -> Any:
        tag = request.body["prompt_cache_key"][-8:]
        body = " ".join(f"{tag}-{i}" for i in range(n_words))
        return text(body, delay_s=0.001)

    mock_model.set_default(answer)
    client = await start_client()
    thread_ids = [await start_thread(client) for _ in range(n_threads)]
    turn_ids = await asyncio.gather(*(start_turn(client, t, "go") for t in thread_ids))
    by_turn = dict(zip(turn_ids, thread_ids, strict=True))

    pending = set(turn_ids)
    messages: list[dict[str, Any]] = []
    while pending:
        message = await client.next_message(timeout=20)
        messages.append(message)
        if message.get("method") == "turn/completed":
            pending.discard(message["params"]["turn"]["id"])

    assert len(mock_model.requests) == n_threads
    for turn_id, thread_id in by_turn.items():
        tag = thread_id[-8:]
        expected = " ".join(f"{tag}-{i}" for i in range(n_words))
        deltas = [
            m["params"]["delta"]
            for m in messages
            if m.get("method") == "item/agentMessage/delta" and m["params"]["turnId"] == turn_id
        ]
        assert len(deltas) == n_words
        assert "".join(deltas) == expected, f"deltas of {turn_id} lost or out of order"
        [done] = [
            m["params"]
            for m in messages
            if m.get("method") == "turn/completed" and m["params"]["turn"]["id"] == turn_id
        ]
        assert done["threadId"] == thread_id
        assert done["turn"]["items"][0]["text"] == expected


# ---- reasoning, injection and the small methods ------------------------------------------


async def test_reasoning_summary_streams(start_client: StartClient, mock_model: MockModel) -> None:
    mock_model.enqueue(text("Answer.", reasoning="Thinking it over", item_id="msg_r"))
    client = await start_client()
    thread_id = await start_thread(client)
    turn_id = await start_turn(client, thread_id, "think")
    messages = await collect_turn(client, turn_id)

    kinds = [p["item"]["type"] for p in of(messages, "item/started")]
    assert kinds == ["userMessage", "reasoning", "agentMessage"]
    parts = of(messages, "item/reasoning/summaryPartAdded")
    assert [p["summaryIndex"] for p in parts] == [0]
    deltas = of(messages, "item/reasoning/summaryTextDelta")
    assert "".join(d["delta"] for d in deltas) == "Thinking it over"
    [reasoning] = [
        p["item"] for p in of(messages, "item/completed") if p["item"]["type"] == "reasoning"
    ]
    assert reasoning["summary"] == ["Thinking it over"]
    # The reasoning item goes back to the model on the next request.
    mock_model.enqueue(text("Again."))
    nxt = await start_turn(client, thread_id, "more")
    await collect_turn(client, nxt)
    kinds_sent = [i.get("type") for i in mock_model.requests[1].body["input"]]
    assert "reasoning" in kinds_sent


async def test_inject_items_loaded_list_model_list_config_read(
    start_client: StartClient, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("ok"))
    client = await start_client()
    thread_id = await start_thread(client)

    loaded = await client.request("thread/loaded/list", {})
    assert loaded["data"] == [thread_id]
    injected = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "injected context"}],
    }
    assert (
        await client.request("thread/inject_items", {"threadId": thread_id, "items": [injected]})
        == {}
    )
    empty = await client.request_error("thread/inject_items", {"threadId": thread_id, "items": []})
    assert empty["code"] == -32600
    bad = await client.request_error(
        "thread/inject_items", {"threadId": thread_id, "items": [injected, {"bad": 1}]}
    )
    assert bad["code"] == -32600 and bad["message"].startswith("items[1]: "), bad
    resumed_bad = await client.request_error(
        "thread/resume", {"threadId": "", "history": [{"type": "message", "role": 7}]}
    )
    assert resumed_bad["code"] == -32600 and resumed_bad["message"].startswith("history[0]: ")
    turn_id = await start_turn(client, thread_id, "go")
    await collect_turn(client, turn_id)
    assert user_texts(mock_model.requests[0])[-2:] == ["injected context", "go"]

    models = await client.request("model/list", {})
    # Codex's catalog first (its default flagged), then the configured model it lacks.
    assert models["data"][-1]["model"] == "mock-model"
    assert [m["model"] for m in models["data"] if m["isDefault"]] == ["gpt-6.1-sol"]
    config = await client.request("config/read", {})
    assert config["config"]["model"] == "mock-model"
    assert config["config"]["model_provider"] == "mock"

    unsub = await client.request("thread/unsubscribe", {"threadId": thread_id})
    assert unsub == {"status": "unsubscribed"}
    again = await client.request("thread/unsubscribe", {"threadId": thread_id})
    assert again == {"status": "notSubscribed"}
