"""``TurnRunner`` against a recording fake ``TurnHost`` and the real mock model over HTTP.

The host records, in order, everything the turn asks of its owner; the tests assert
that list (as hypercorn's stream tests assert the events handed to ``send``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.mock_model import MockModel, function_call, http_error, text, usage
from tests.support.schema import reference_dir

from threadline.core.settings import ThreadSettings
from threadline.core.turn import TURN_ABORTED_MESSAGE, ActiveTurn, TurnRunner
from threadline.model.base import ModelClient
from threadline.model.responses import ResponsesClient
from threadline.protocol import events as ev
from threadline.protocol.items import FunctionCallOutputItem, ResponseItem, user_text_message
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.item import TextUserInput, ThreadItem, UserInput
from threadline.protocol.v2.turn import Turn
from threadline.tools.registry import DecisionHook, ToolRegistry
from threadline.tools.shell import REJECTED_BY_USER, ExecCommandTool


class RecordingHost:
    """A ``TurnHost`` that keeps what the turn asked of it in ``calls``, in order.

    Structurally typed: ``TurnRunner(host, ...)`` is where a type checker holds it to
    the Protocol (``mypy tests/core/test_turn.py``)."""

    def __init__(
        self, model: ModelClient, cwd: Path, *, tools: ToolRegistry | None = None, **settings: Any
    ) -> None:
        self.thread_id = "thread-1"
        self.settings = ThreadSettings(
            model="mock-model", model_provider="mock", cwd=str(cwd), ephemeral=True, **settings
        )
        self.model = model
        self.tools = tools or ToolRegistry()
        self.history: list[ResponseItem] = []
        self.token_info: TokenUsageInfo | None = None
        self.calls: list[tuple[str, Any]] = []
        self.events: list[ev.EventMsg] = []
        self.approvals: list[ev.ExecApprovalRequest] = []
        self.decision = "decline"
        self.answer: Any = None
        """What :meth:`ask` answers any other question with."""
        self.unpaused = asyncio.Event()
        self.unpaused.set()
        self._ids = 0

    def new_id(self) -> str:
        self._ids += 1
        return f"id-{self._ids}"

    async def emit(self, turn_id: str, msg: ev.EventMsg) -> None:
        self.calls.append(("emit", msg.type))
        self.events.append(msg)

    async def record(self, items: list[ResponseItem]) -> None:
        self.calls.append(("record", [i.type for i in items]))
        self.history.extend(items)

    async def turn_started(self, turn: ActiveTurn) -> None:
        self.calls.append(("turn_started", turn.id))

    async def record_user_input(
        self, turn: ActiveTurn, items: list[UserInput], client_id: str | None
    ) -> None:
        words = [i.text for i in items if isinstance(i, TextUserInput)]
        self.calls.append(("record_user_input", words))
        self.history.append(user_text_message("\n".join(words)))

    async def complete_item(self, turn: ActiveTurn, item: ThreadItem) -> None:
        self.calls.append(("complete_item", item.type))
        turn.items.append(item)

    async def add_usage(self, turn_id: str, usage: TokenUsage) -> None:
        self.calls.append(("add_usage", usage.total_tokens))
        self.token_info = (self.token_info or TokenUsageInfo()).updated(usage, None)

    async def request_approval(
        self,
        request: ev.ExecApprovalRequest,
        started_item: Any | None,
        on_decision: DecisionHook | None,
    ) -> str:
        self.calls.append(("request_approval", request.command))
        self.approvals.append(request)
        if on_decision is not None:
            await on_decision(self.decision)
        return self.decision

    async def ask(
        self, request: ev.ClientAsk, started_item: Any | None, on_decision: Any | None
    ) -> Any:
        self.calls.append(("ask", type(request).__name__))
        if on_decision is not None:
            await on_decision(self.answer)
        return self.answer

    async def wait_unpaused(self) -> None:
        await self.unpaused.wait()

    async def turn_finished(self, turn: ActiveTurn, snapshot: Turn) -> Turn:
        self.calls.append(("turn_finished", snapshot.status))
        return snapshot


@pytest.fixture
async def client(mock_model: MockModel) -> AsyncIterator[ResponsesClient]:
    model = ResponsesClient(
        provider_id="mock",
        base_url=mock_model.base_url,
        api_key=None,
        max_retries=1,
        backoff_base_s=0.01,
        stream_idle_timeout_s=10,
    )
    yield model
    await model.aclose()


def new_turn() -> ActiveTurn:
    loop = asyncio.get_running_loop()
    turn = ActiveTurn(id="turn-1", started_at=time.time())
    turn.done = loop.create_future()
    turn.abort_ack = loop.create_future()
    return turn


def say(*texts: str) -> list[UserInput]:
    return [TextUserInput(text=t) for t in texts]


def sent_texts(mock: MockModel, index: int) -> list[str]:
    return [
        part.get("text", "")
        for item in mock.requests[index].body["input"]
        if item.get("type") == "message"
        for part in item["content"]
    ]


async def test_a_completed_turn_asks_its_host_in_codex_order(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(text("hi there", usage=usage(100, 40, 20, 5)))
    host = RecordingHost(client, tmp_path)

    final = await TurnRunner(host, new_turn()).run(say("hello"), None)

    assert final.status == "completed" and final.items_view == "summary"
    assert host.calls == [
        ("turn_started", "turn-1"),
        ("record_user_input", ["hello"]),
        ("emit", "item_started"),
        ("emit", "agent_message_delta"),
        ("emit", "agent_message_delta"),
        ("record", ["message"]),
        ("emit", "agent_message"),
        ("complete_item", "agentMessage"),
        ("add_usage", 120),
        ("emit", "task_complete"),
        ("turn_finished", "completed"),
    ]
    [request] = mock_model.requests
    assert request.body["input"][-1]["content"][0]["text"] == "hello"
    assert request.body["prompt_cache_key"] == "thread-1"
    assert request.headers["thread-id"] == "thread-1"
    done = [e for e in host.events if isinstance(e, ev.TaskComplete)]
    assert done[0].last_agent_message == "hi there"


async def test_a_model_error_ends_the_turn_failed(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(http_error(400, {"error": {"message": "bad input here"}}))
    host = RecordingHost(client, tmp_path)

    final = await TurnRunner(host, new_turn()).run(say("x"), None)

    assert final.status == "failed"
    assert final.error is not None and final.error.codex_error_info == "badRequest"
    assert host.calls[-3:] == [
        ("emit", "error"),
        ("emit", "task_complete"),
        ("turn_finished", "failed"),
    ]


class CrashingHost(RecordingHost):
    async def record_user_input(
        self, turn: ActiveTurn, items: list[UserInput], client_id: str | None
    ) -> None:
        raise RuntimeError("the host broke")


async def test_a_crash_inside_the_turn_ends_it_failed_not_raised(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    host = CrashingHost(client, tmp_path)

    final = await TurnRunner(host, new_turn()).run(say("x"), None)

    assert final.status == "failed"
    assert final.error is not None and final.error.message == "internal error: the host broke"
    assert host.calls[-1] == ("turn_finished", "failed")
    assert mock_model.requests == []


async def test_an_interrupt_records_the_marker_codex_writes(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(text(" ".join(["slow"] * 200), delay_s=0.02))
    host = RecordingHost(client, tmp_path)
    turn = new_turn()
    running = asyncio.ensure_future(TurnRunner(host, turn).run(say("count"), None))
    async with asyncio.timeout(5):
        while ("emit", "agent_message_delta") not in host.calls:
            await asyncio.sleep(0.01)
        turn.interrupt.set()
        assert turn.abort_ack is not None
        await asyncio.shield(turn.abort_ack)  # accounted for before the turn ends
        assert not running.done()
        turn.release.set()
        final = await running

    assert final.status == "interrupted"
    assert host.history[-1] == user_text_message(TURN_ABORTED_MESSAGE)
    assert ("emit", "agent_message") not in host.calls
    assert host.calls[-2:] == [("emit", "turn_aborted"), ("turn_finished", "interrupted")]


def test_the_interrupt_marker_is_the_one_in_codex_rollouts() -> None:
    texts: set[str] = set()
    for path in sorted((reference_dir() / "rollouts").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            payload = json.loads(line).get("payload") or {}
            for part in payload.get("content") or []:
                said = str(part.get("text", "")) if isinstance(part, dict) else ""
                if said.startswith("<turn_aborted>"):
                    texts.add(said)
    assert texts == {TURN_ABORTED_MESSAGE}


async def test_steered_input_reaches_the_next_request(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(text(" ".join(["x"] * 40), delay_s=0.05), text("ok"))
    host = RecordingHost(client, tmp_path)
    turn = new_turn()
    running = asyncio.ensure_future(TurnRunner(host, turn).run(say("go"), None))
    async with asyncio.timeout(5):
        while ("emit", "agent_message_delta") not in host.calls:
            await asyncio.sleep(0.01)
        turn.pending_input.append((say("also this"), None))
        turn.steer.set()
        final = await running

    assert final.status == "completed"
    assert host.calls.count(("record_user_input", ["go"])) == 1
    assert ("record_user_input", ["also this"]) in host.calls
    assert sent_texts(mock_model, 1)[-2:] == ["go", "also this"]


async def test_an_approval_is_asked_of_the_host_and_a_decline_is_told_to_the_model(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "touch made.txt"}, call_id="call_touch"),
        text("I could not."),
    )
    host = RecordingHost(
        client,
        tmp_path,
        tools=ToolRegistry([ExecCommandTool()]),
        approval_policy="untrusted",
        sandbox_mode="workspace-write",
    )

    final = await TurnRunner(host, new_turn()).run(say("make it"), None)

    assert final.status == "completed"
    [request] = host.approvals
    assert "touch made.txt" in request.command and request.turn_id == "turn-1"
    assert not (tmp_path / "made.txt").exists()
    [output] = [i for i in host.history if isinstance(i, FunctionCallOutputItem)]
    assert output.call_id == "call_touch" and output.output == REJECTED_BY_USER


async def test_nothing_is_sampled_while_the_host_is_paused(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(text("resumed"))
    host = RecordingHost(client, tmp_path)
    host.unpaused.clear()
    running = asyncio.ensure_future(TurnRunner(host, new_turn()).run(say("wait"), None))
    await asyncio.sleep(0.2)
    assert mock_model.requests == [] and not running.done()
    host.unpaused.set()
    final = await asyncio.wait_for(running, 5)
    assert final.status == "completed" and len(mock_model.requests) == 1


class _EchoFreeform:
    """A freeform (custom) test tool: echoes its input and keeps every partial input."""

    name = "echo_freeform"

    def __init__(self) -> None:
        self.partials: list[str] = []
        self.inputs: list[str] = []

    def spec(self) -> dict[str, Any]:
        return {"type": "custom", "name": self.name, "description": "echo"}

    async def input_progress(self, ctx: Any, partial_input: str) -> None:
        self.partials.append(partial_input)

    async def run(self, ctx: Any, arguments: str) -> Any:
        from threadline.tools.registry import ToolOutput

        self.inputs.append(arguments)
        return ToolOutput(text=f"echo:{arguments}")


async def test_a_custom_tool_call_streams_its_input_and_gets_a_custom_output(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    from tests.support.mock_model import custom_tool_call

    tool = _EchoFreeform()
    mock_model.enqueue(
        custom_tool_call("echo_freeform", "abcdefghi", chunks=3, call_id="c1"), text("done")
    )
    host = RecordingHost(client, tmp_path, tools=ToolRegistry([tool]))

    final = await TurnRunner(host, new_turn()).run(say("go"), None)

    assert final.status == "completed"
    assert tool.partials == ["abc", "abcdef", "abcdefghi"]
    assert tool.inputs == ["abcdefghi"]
    assert mock_model.requests[0].body["tools"] == [tool.spec()]
    sent = mock_model.requests[1].body["input"]
    call = next(i for i in sent if i["type"] == "custom_tool_call")
    output = next(i for i in sent if i["type"] == "custom_tool_call_output")
    assert call["input"] == "abcdefghi" and call["call_id"] == "c1"
    assert output == {
        "type": "custom_tool_call_output",
        "call_id": "c1",
        "output": "echo:abcdefghi",
    }


class _Pictures:
    name = "pictures"

    def spec(self) -> dict[str, Any]:
        return {"type": "function", "name": self.name, "parameters": {"type": "object"}}

    async def run(self, ctx: Any, arguments: str) -> Any:
        from threadline.protocol.items import ContentItem
        from threadline.tools.registry import ToolOutput

        url = "data:image/png;base64,iVBORw0KGgo="
        return ToolOutput(text="", content=[ContentItem(type="input_image", image_url=url)])


async def test_a_tool_output_with_content_parts_reaches_the_model_as_parts(
    client: ResponsesClient, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(function_call("pictures", {}, call_id="p1"), text("seen"))
    host = RecordingHost(client, tmp_path, tools=ToolRegistry([_Pictures()]))

    await TurnRunner(host, new_turn()).run(say("look"), None)

    sent = mock_model.requests[1].body["input"]
    output = next(i for i in sent if i["type"] == "function_call_output")
    assert output["output"] == [
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    ]
