"""ChatCompletionsClient against the mock server's /v1/chat/completions SSE."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing

import pytest
from tests.support.mock_model import (
    MockModel,
    disconnect_after,
    function_call,
    http_error,
    text,
    usage,
)

from threadline.model.base import (
    ModelError,
    ModelEvent,
    ModelRequest,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ResponseCompleted,
    ResponseCreated,
    RetryScheduled,
)
from threadline.model.chat import ChatCompletionsClient
from threadline.protocol.items import (
    ContentItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    ReasoningItem,
    SummaryText,
    assistant_text_message,
    developer_text_message,
    user_text_message,
)
from threadline.protocol.usage import TokenUsage


async def _collect(client: ChatCompletionsClient, request: ModelRequest) -> list[ModelEvent]:
    async with asyncio.timeout(10), aclosing(client.stream(request)) as stream:
        return [event async for event in stream]


def _request(**kwargs: object) -> ModelRequest:
    base: dict[str, object] = {"model": "mock-model", "input": [user_text_message("hi")]}
    base.update(kwargs)
    return ModelRequest(**base)  # type: ignore[arg-type]


async def test_text_stream_and_usage(
    mock_model: MockModel, chat_client: ChatCompletionsClient
) -> None:
    mock_model.enqueue(
        text("alpha beta gamma", usage=usage(input=40, cached=8, output=12, reasoning=3, total=52))
    )
    events = await _collect(chat_client, _request())

    assert isinstance(events[0], ResponseCreated)
    added = events[1]
    assert isinstance(added, OutputItemAdded) and isinstance(added.item, MessageItem)
    item_id = added.item.id
    assert item_id is not None and item_id.startswith("msg_")
    deltas = [e for e in events if isinstance(e, OutputTextDelta)]
    assert [d.delta for d in deltas] == ["alpha ", "beta ", "gamma"]
    assert {d.item_id for d in deltas} == {item_id}
    done = [e for e in events if isinstance(e, OutputItemDone)]
    assert len(done) == 1
    assert isinstance(done[0].item, MessageItem) and done[0].item.id == item_id
    assert done[0].item.role == "assistant" and done[0].item.text() == "alpha beta gamma"
    last = events[-1]
    assert isinstance(last, ResponseCompleted)
    assert last.usage == TokenUsage(
        input_tokens=40,
        cached_input_tokens=8,
        output_tokens=12,
        reasoning_output_tokens=3,
        total_tokens=52,
    )
    body = mock_model.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert "tools" not in body


async def test_tool_calls_are_accumulated(
    mock_model: MockModel, chat_client: ChatCompletionsClient
) -> None:
    mock_model.enqueue(
        function_call(
            "exec_command",
            {"cmd": "ls -la", "workdir": "/tmp"},
            call_id="call_7",
            text_before="Listing.",
        )
        + function_call("view_image", {"path": "a.png"}, call_id="call_8")
    )
    events = await _collect(chat_client, _request())

    done = [e.item for e in events if isinstance(e, OutputItemDone)]
    assert isinstance(done[0], MessageItem) and done[0].text() == "Listing."
    calls = done[1:]
    assert all(isinstance(c, FunctionCallItem) for c in calls)
    assert [(c.name, c.call_id) for c in calls if isinstance(c, FunctionCallItem)] == [
        ("exec_command", "call_7"),
        ("view_image", "call_8"),
    ]
    first = calls[0]
    assert isinstance(first, FunctionCallItem)
    assert json.loads(first.arguments) == {"cmd": "ls -la", "workdir": "/tmp"}
    assert isinstance(events[-1], ResponseCompleted)


async def test_history_and_tools_are_converted(
    mock_model: MockModel, chat_client: ChatCompletionsClient
) -> None:
    mock_model.enqueue(text("ok"))
    history = [
        developer_text_message("You are terse."),
        user_text_message("what is here?"),
        ReasoningItem(summary=[SummaryText(text="private thoughts")]),
        assistant_text_message("Let me look."),
        FunctionCallItem(name="exec_command", arguments='{"cmd":"ls"}', call_id="c1"),
        FunctionCallOutputItem(call_id="c1", output="a.txt\n"),
        MessageItem(
            role="user",
            content=[
                ContentItem(type="input_text", text="and this?"),
                ContentItem(type="input_image", image_url="data:image/png;base64,AAAA"),
            ],
        ),
    ]
    tool = {
        "type": "function",
        "name": "exec_command",
        "description": "Run a command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        "strict": False,
    }
    await _collect(
        chat_client,
        _request(input=history, tools=[tool, {"type": "web_search"}], reasoning_effort="low"),
    )

    body = mock_model.requests[0].body
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "what is here?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt\n"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "exec_command",
                "description": "Run a command",
                "parameters": tool["parameters"],
            },
        }
    ]
    assert body["parallel_tool_calls"] is True
    assert body["reasoning_effort"] == "low"


async def test_server_error_is_retried(
    mock_model: MockModel, chat_client: ChatCompletionsClient
) -> None:
    mock_model.enqueue(http_error(502), text("fine"))
    events = await _collect(chat_client, _request())
    assert sum(isinstance(e, RetryScheduled) for e in events) == 1
    assert isinstance(events[-1], ResponseCompleted)
    assert len(mock_model.requests) == 2


async def test_mid_stream_disconnect_is_an_error(
    mock_model: MockModel, chat_client: ChatCompletionsClient
) -> None:
    mock_model.enqueue(disconnect_after(2, "abcdefgh"))
    with pytest.raises(ModelError):
        await _collect(chat_client, _request())
    assert len(mock_model.requests) == 1


async def test_bad_request_is_not_retried(
    mock_model: MockModel, chat_client: ChatCompletionsClient
) -> None:
    mock_model.enqueue(http_error(404, {"error": {"message": "model 'nope' not found"}}))
    with pytest.raises(ModelError, match=r"404.*model 'nope' not found"):
        await _collect(chat_client, _request(model="nope"))
    assert len(mock_model.requests) == 1
