"""The Thread conduit in-process, against the real mock model over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from tests.core.conftest import MakeThread
from tests.support.mock_model import MockModel, function_call, text, usage

from threadline.core.errors import (
    ElicitationCountError,
    EmptyInput,
    ExpectedTurnMismatch,
    InvalidRequest,
    McpServerNotFound,
    NoActiveTurn,
)
from threadline.protocol import events as ev
from threadline.protocol.items import MessageItem, user_text_message
from threadline.protocol.ops import Interrupt, Shutdown, UserTurn
from threadline.protocol.v2.item import TextUserInput


def say(message: str) -> UserTurn:
    return UserTurn(items=[TextUserInput(text=message)])


def collect(thread_events: list[ev.Event]) -> list[str]:
    return [e.msg.type for e in thread_events]


def request_texts(mock: MockModel, index: int) -> list[str]:
    body = mock.requests[index].body
    return [
        part.get("text", "")
        for item in body["input"]
        if item.get("type") == "message"
        for part in item["content"]
    ]


async def test_turn_events_and_usage_snapshot(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("hi there", usage=usage(100, 40, 20, 5)))
    thread = await make_thread()
    events: list[ev.Event] = []
    thread.add_listener(events.append)
    statuses: list[str] = []
    thread.subscribe_status(lambda status, _flags: statuses.append(status))
    first_event = asyncio.ensure_future(thread.next_event())
    await asyncio.sleep(0)

    turn_id = thread.submit(say("hello"))
    turn = await thread.wait_turn()
    assert turn is not None and turn.id == turn_id and turn.status == "completed"
    assert (await first_event).msg.type == "status_changed"

    kinds = collect(events)
    assert kinds[0] == "status_changed"
    assert kinds.index("task_started") < kinds.index("turn_started") < kinds.index("user_message")
    assert kinds.count("agent_message_delta") == 2
    assert kinds[-2:] == ["status_changed", "turn_completed"]
    assert (
        kinds.index("token_count")
        < kinds.index("token_usage_updated")
        < kinds.index("task_complete")
    )
    assert statuses == ["active", "idle"]

    info = thread.token_usage_info()
    assert info is not None
    assert info.total_token_usage.total_tokens == 120
    assert info.last_token_usage.cached_input_tokens == 40
    assert info.model_context_window is not None
    assert thread.total_token_usage() == info.total_token_usage
    assert thread.agent_status() == "idle"
    assert thread.turns[-1].status == "completed"


async def test_steer_errors_name_the_problem(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    mock_model.enqueue(text(" ".join(["x"] * 40), delay_s=0.05), text("ok"))
    thread = await make_thread()
    deltas: list[ev.Event] = []
    thread.add_listener(lambda e: deltas.append(e) if e.msg.type == "agent_message_delta" else None)
    with pytest.raises(NoActiveTurn, match="no active turn to steer"):
        thread.steer_input([TextUserInput(text="a")], None)
    turn_id, started = thread.start_turn(say("go"))
    assert started
    while not deltas:
        await asyncio.sleep(0.01)
    with pytest.raises(EmptyInput):
        thread.steer_input([], turn_id)
    with pytest.raises(ExpectedTurnMismatch) as mismatch:
        thread.steer_input([TextUserInput(text="a")], "other")
    assert mismatch.value.data == {"expectedTurnId": "other", "activeTurnId": turn_id}
    assert thread.steer_input([TextUserInput(text="also this")], turn_id) == turn_id
    turn = await thread.wait_turn()
    assert turn is not None and turn.status == "completed"
    assert request_texts(mock_model, 1)[-2:] == ["go", "also this"]


async def test_interrupt_answers_before_the_turn_ends(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    mock_model.enqueue(text(" ".join(["slow"] * 200), delay_s=0.02))
    thread = await make_thread()
    events: list[ev.Event] = []
    thread.add_listener(events.append)
    turn_id = thread.submit(say("count"))
    while "agent_message_delta" not in collect(events):
        await asyncio.sleep(0.01)
    done = thread.active.done if thread.active else None
    assert done is not None

    assert await thread.interrupt(turn_id) == turn_id
    kinds = collect(events)
    assert "turn_aborted" in kinds and "turn_completed" not in kinds
    final = await asyncio.wait_for(asyncio.shield(done), 5)
    assert final.status == "interrupted"
    assert collect(events)[-1] == "turn_completed"
    assert thread.history[-1] == user_text_message(thread.history[-1].text() or "")
    last = thread.history[-1]
    assert isinstance(last, MessageItem) and (last.text() or "").startswith("<turn_aborted>")
    with pytest.raises(NoActiveTurn, match="no active turn to interrupt"):
        thread.submit(Interrupt())


async def test_elicitation_counter_pauses_sampling(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("resumed"))
    thread = await make_thread()
    assert thread.increment_elicitation() == 1
    assert thread.paused
    thread.submit(say("wait"))
    await asyncio.sleep(0.2)
    assert mock_model.requests == []
    assert thread.decrement_elicitation() == 0
    assert not thread.paused
    turn = await thread.wait_turn()
    assert turn is not None and turn.status == "completed"
    assert len(mock_model.requests) == 1
    with pytest.raises(ElicitationCountError, match="zero"):
        thread.decrement_elicitation()


async def test_interrupt_while_paused_never_samples(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    thread = await make_thread()
    thread.increment_elicitation()
    turn_id = thread.submit(say("held"))
    await asyncio.sleep(0.05)
    await thread.interrupt(turn_id)
    assert thread.turns[-1].status in ("inProgress", "interrupted")
    await asyncio.sleep(0.05)
    assert thread.turns[-1].status == "interrupted"
    assert mock_model.requests == []


async def test_injection_reaches_the_next_request(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("seen"))
    thread = await make_thread()
    with pytest.raises(InvalidRequest, match="must not be empty"):
        await thread.inject_response_items([])
    await thread.inject_response_items([user_text_message("injected item")])
    # The reference context is recorded before the first injected item.
    assert "<environment_context>" in (thread.history[0].text() or "")
    await thread.inject_user_message_without_turn("note without a turn")
    thread.submit(say("now answer"))
    await thread.wait_turn()
    assert request_texts(mock_model, 0)[-3:] == [
        "injected item",
        "note without a turn",
        "now answer",
    ]


async def test_unknown_tool_and_bad_arguments_do_not_end_the_turn(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    mock_model.enqueue(
        function_call("no_such_tool", {}, call_id="c1"),
        function_call("update_plan", "{not json", call_id="c2"),
        text("carried on"),
    )
    thread = await make_thread()
    thread.submit(say("use tools"))
    turn = await thread.wait_turn()
    assert turn is not None and turn.status == "completed"
    outputs = {
        i["call_id"]: i["output"]
        for i in mock_model.requests[2].body["input"]
        if i.get("type") == "function_call_output"
    }
    assert outputs["c1"] == "unsupported call: no_such_tool"
    assert "not valid JSON" in outputs["c2"]


async def test_flow_gate_holds_the_turn_loop(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("a b c d e f"))
    thread = await make_thread()
    deltas: list[str] = []
    opened = asyncio.Event()

    def on_event(event: ev.Event) -> None:
        if isinstance(event.msg, ev.AgentMessageDelta):
            deltas.append(event.msg.delta)

    thread.add_listener(on_event)

    def gate() -> asyncio.Future[bool] | None:
        if deltas and not opened.is_set():
            return asyncio.ensure_future(opened.wait())
        return None

    remove = thread.add_flow_gate(gate)
    thread.submit(say("go"))
    await asyncio.sleep(0.3)
    assert deltas == ["a "], "the gate must hold the loop after the first delta"
    opened.set()
    turn = await thread.wait_turn()
    assert turn is not None and turn.status == "completed"
    assert "".join(deltas) == "a b c d e f"
    remove()


async def test_model_failure_ends_turn_failed(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    from tests.support.mock_model import http_error

    mock_model.enqueue(http_error(400, {"error": {"message": "bad input here"}}))
    thread = await make_thread()
    events: list[ev.Event] = []
    thread.add_listener(events.append)
    thread.submit(say("x"))
    turn = await thread.wait_turn()
    assert turn is not None and turn.status == "failed"
    assert turn.error is not None and "bad input here" in turn.error.message
    errors = [e.msg for e in events if isinstance(e.msg, ev.ErrorEvent)]
    assert len(errors) == 1 and "HTTP 400" in errors[0].message


async def test_snapshot_features_mcp_memory_and_shutdown(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    mock_model.enqueue(text(" ".join(["z"] * 100), delay_s=0.02))
    thread = await make_thread()
    snap = thread.config_snapshot()
    assert (snap.model, snap.model_provider_id, snap.ephemeral) == ("mock-model", "mock", True)
    assert snap.approval_policy == "never" and snap.session_source == "vscode"
    assert not thread.enabled("no-such-feature")
    with pytest.raises(McpServerNotFound, match="no MCP server named docs"):
        await thread.call_mcp_tool("docs", "search", {})
    with pytest.raises(McpServerNotFound):
        await thread.read_mcp_resource("docs", "file:///x")
    with pytest.raises(InvalidRequest):
        await thread.set_thread_memory_mode("sometimes")
    await thread.set_thread_memory_mode("disabled")
    assert thread.rollout_path() is None

    events: list[ev.Event] = []
    thread.add_listener(events.append)
    thread.submit(say("long"))
    while "agent_message_delta" not in collect(events):
        await asyncio.sleep(0.01)
    thread.submit(Shutdown())
    for _ in range(200):
        if "shutdown_complete" in collect(events):
            break
        await asyncio.sleep(0.01)
    assert thread.turns[-1].status == "interrupted"
    assert collect(events)[-1] == "shutdown_complete"
    with pytest.raises(InvalidRequest, match="shut down"):
        thread.submit(say("too late"))


async def test_submit_with_trace_runs_the_turn_under_the_callers_trace_context(
    make_thread: MakeThread, mock_model: MockModel
) -> None:
    trace = pytest.importorskip("opentelemetry.trace")
    mock_model.enqueue(text("traced"), text("plain"))
    thread = await make_thread()
    seen: list[int] = []

    def on_event(event: ev.Event) -> None:
        if isinstance(event.msg, ev.TaskStarted):
            seen.append(trace.get_current_span().get_span_context().trace_id)

    thread.add_listener(on_event)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    parent = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
    turn_id = await thread.submit_with_trace(say("go"), parent)
    assert trace.get_current_span().get_span_context().trace_id == 0, "detached on return"
    turn = await thread.wait_turn()
    assert turn is not None and turn.id == turn_id and turn.status == "completed"
    # Without a trace context it is a plain submit.
    await thread.submit_with_trace(say("again"), None)
    await thread.wait_turn()
    assert seen == [int(trace_id, 16), 0]


async def test_client_info_and_elicitation_count(make_thread: MakeThread) -> None:
    thread = await make_thread()
    assert thread.client_info is None
    thread.set_app_server_client_info("vscode", "1.2.3")
    assert thread.client_info == ("vscode", "1.2.3")
    assert thread.elicitation_count == 0
    thread.increment_elicitation()
    thread.increment_elicitation()
    assert thread.elicitation_count == 2 and thread.paused
    thread.decrement_elicitation()
    assert thread.elicitation_count == 1 and thread.paused
