"""ResponsesClient against a real mock Responses API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest
from tests.support.mock_model import (
    MockModel,
    disconnect_after,
    failed,
    function_call,
    http_error,
    reasoning,
    text,
    usage,
)

from threadline.model.base import (
    ModelConfigError,
    ModelError,
    ModelEvent,
    ModelRequest,
    ModelRetriesExhausted,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseCompleted,
    ResponseCreated,
    RetryScheduled,
)
from threadline.model.responses import ResponsesClient
from threadline.protocol.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    ReasoningItem,
    assistant_text_message,
    user_text_message,
)
from threadline.protocol.usage import TokenUsage


def _request(**kwargs: object) -> ModelRequest:
    base: dict[str, object] = {"model": "mock-model", "input": [user_text_message("hi")]}
    base.update(kwargs)
    return ModelRequest(**base)  # type: ignore[arg-type]


async def _collect(client: ResponsesClient, request: ModelRequest) -> list[ModelEvent]:
    async with asyncio.timeout(10), aclosing(client.stream(request)) as stream:
        return [event async for event in stream]


async def test_text_deltas_arrive_in_order_and_usage_is_mapped(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(
        text(
            "one two three four",
            item_id="msg_a",
            usage=usage(input=1500, cached=900, output=80, reasoning=20, total=1581),
        )
    )
    events = await _collect(responses_client, _request())

    assert isinstance(events[0], ResponseCreated)
    assert events[0].response_id is not None
    added = [e for e in events if isinstance(e, OutputItemAdded)]
    assert len(added) == 1 and isinstance(added[0].item, MessageItem)
    assert added[0].item.id == "msg_a"
    deltas = [e for e in events if isinstance(e, OutputTextDelta)]
    assert [d.delta for d in deltas] == ["one ", "two ", "three ", "four"]
    assert {d.item_id for d in deltas} == {"msg_a"}
    done = [e for e in events if isinstance(e, OutputItemDone)]
    assert len(done) == 1 and isinstance(done[0].item, MessageItem)
    assert done[0].item.text() == "one two three four"
    # ordering: added < deltas < done < completed
    kinds = [type(e) for e in events]
    assert kinds.index(OutputItemAdded) < kinds.index(OutputTextDelta)
    assert kinds.index(OutputItemDone) > max(i for i, k in enumerate(kinds) if k is OutputTextDelta)
    last = events[-1]
    assert isinstance(last, ResponseCompleted)
    assert last.response_id == events[0].response_id
    # total_tokens is copied as the server gave it, never recomputed
    assert last.usage == TokenUsage(
        input_tokens=1500,
        cached_input_tokens=900,
        output_tokens=80,
        reasoning_output_tokens=20,
        total_tokens=1581,
    )


async def test_reasoning_summary_events(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(reasoning("thinking about it", item_id="rs_1") + text("done"))
    events = await _collect(responses_client, _request())

    parts = [e for e in events if isinstance(e, ReasoningSummaryPartAdded)]
    assert parts == [ReasoningSummaryPartAdded(item_id="rs_1", summary_index=0)]
    summary = [e for e in events if isinstance(e, ReasoningSummaryDelta)]
    assert "".join(e.delta for e in summary) == "thinking about it"
    assert all(e.item_id == "rs_1" and e.summary_index == 0 for e in summary)
    done = [e.item for e in events if isinstance(e, OutputItemDone)]
    assert isinstance(done[0], ReasoningItem)
    assert [s.text for s in done[0].summary] == ["thinking about it"]
    assert done[0].encrypted_content == "enc:rs_1"
    assert isinstance(done[1], MessageItem) and done[1].text() == "done"


async def test_function_call_item(mock_model: MockModel, responses_client: ResponsesClient) -> None:
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "echo hi"}, call_id="call_1", text_before="Running.")
    )
    events = await _collect(responses_client, _request())

    done = [e.item for e in events if isinstance(e, OutputItemDone)]
    assert isinstance(done[0], MessageItem) and done[0].text() == "Running."
    call = done[1]
    assert isinstance(call, FunctionCallItem)
    assert (call.name, call.call_id) == ("exec_command", "call_1")
    assert call.arguments == '{"cmd": "echo hi"}'
    assert isinstance(events[-1], ResponseCompleted)


async def test_server_error_is_retried_then_succeeds(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(http_error(500), text("recovered"))
    events = await _collect(responses_client, _request())

    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert len(retries) == 1
    assert retries[0].attempt == 1 and retries[0].max_attempts == 3
    assert "500" in retries[0].message
    assert events.index(retries[0]) == 0
    texts = [e.delta for e in events if isinstance(e, OutputTextDelta)]
    assert "".join(texts) == "recovered"
    assert isinstance(events[-1], ResponseCompleted)
    assert len(mock_model.requests) == 2


async def test_rate_limit_honours_retry_after(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(
        http_error(429, {"error": {"message": "slow down please"}}, retry_after=0.3), text("ok")
    )
    started = time.monotonic()
    events = await _collect(responses_client, _request())
    elapsed = time.monotonic() - started

    retry = next(e for e in events if isinstance(e, RetryScheduled))
    assert retry.delay_s == pytest.approx(0.3)
    assert "429" in retry.message and "slow down please" in retry.message
    assert elapsed >= 0.3
    assert isinstance(events[-1], ResponseCompleted)


async def test_retries_exhausted_names_the_status(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(*[http_error(503) for _ in range(4)])
    seen: list[ModelEvent] = []
    with pytest.raises(ModelRetriesExhausted) as info:
        async with asyncio.timeout(10), aclosing(responses_client.stream(_request())) as stream:
            async for event in stream:
                seen.append(event)  # noqa: PERF401 - keep events seen before the error

    assert "503" in info.value.message
    assert info.value.status_code == 503
    assert [e.attempt for e in seen if isinstance(e, RetryScheduled)] == [1, 2, 3]
    assert len(mock_model.requests) == 4


async def test_bad_request_fails_without_retry(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(http_error(400, {"error": {"message": "Unknown parameter: 'foo'"}}))
    with pytest.raises(ModelError) as info:
        await _collect(responses_client, _request())

    assert not isinstance(info.value, ModelRetriesExhausted)
    assert info.value.status_code == 400
    assert "400" in info.value.message and "Unknown parameter: 'foo'" in info.value.message
    assert len(mock_model.requests) == 1


async def test_disconnect_mid_stream_is_an_error(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(disconnect_after(3, "partial answer that breaks"))
    seen: list[ModelEvent] = []
    with pytest.raises(ModelError) as info:
        async with asyncio.timeout(10), aclosing(responses_client.stream(_request())) as stream:
            async for event in stream:
                seen.append(event)  # noqa: PERF401 - keep events seen before the error

    assert len([e for e in seen if isinstance(e, OutputTextDelta)]) == 3
    assert not any(isinstance(e, ResponseCompleted) for e in seen)
    assert not isinstance(info.value, ModelRetriesExhausted)
    assert len(mock_model.requests) == 1  # output was shown: no silent replay


async def test_disconnect_before_output_is_retried(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    # The stream ends after response.created but before any output event.
    mock_model.enqueue(disconnect_after(0), text("second try"))
    events = await _collect(responses_client, _request())

    assert any(isinstance(e, RetryScheduled) for e in events)
    assert isinstance(events[-1], ResponseCompleted)
    assert len(mock_model.requests) == 2


async def test_response_failed_surfaces_the_server_message(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(
        failed("Your input exceeds the context window", code="context_length_exceeded")
    )
    with pytest.raises(ModelError) as info:
        await _collect(responses_client, _request())
    assert "Your input exceeds the context window" in info.value.message
    assert len(mock_model.requests) == 1


async def test_cancellation_closes_the_http_stream(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(text("x" * 200, chunks=200, delay_s=0.05))
    first_delta = asyncio.Event()

    async def consume() -> None:
        async with aclosing(responses_client.stream(_request())) as stream:
            async for event in stream:
                if isinstance(event, OutputTextDelta):
                    first_delta.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await mock_model.async_wait_for_disconnects(1, timeout=2) == 1


async def test_idle_stream_times_out(mock_model: MockModel) -> None:
    from tests.support.mock_model import Gate

    gate = Gate()  # never released: the server goes silent after the item starts
    mock_model.enqueue(text("never sent", gate=gate))
    client = ResponsesClient(
        provider_id="mock", base_url=mock_model.base_url, api_key="k", stream_idle_timeout_s=0.3
    )
    try:
        with pytest.raises(ModelError) as info:
            await _collect(client, _request())
        assert "timed out" in info.value.message
    finally:
        gate.set()
        await client.aclose()


async def test_request_body_and_headers(mock_model: MockModel) -> None:
    mock_model.enqueue(text("ok"))
    client = ResponsesClient(
        provider_id="mock",
        base_url=mock_model.base_url,
        api_key="sk-secret",
        headers={"originator": "threadline_tests"},
        query_params={"api-version": "2025-01-01"},
    )
    tool = {
        "type": "function",
        "name": "exec_command",
        "description": "Run a command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        "strict": False,
    }
    history = [
        user_text_message("run ls"),
        FunctionCallItem(name="exec_command", arguments='{"cmd":"ls"}', call_id="c1", id="fc_1"),
        FunctionCallOutputItem(call_id="c1", output="a.txt"),
        assistant_text_message("there is a.txt", id="msg_9"),
    ]
    request = _request(
        input=history,
        tools=[tool],
        prompt_cache_key="thread-123",
        reasoning_effort="high",
        extra_headers={"session-id": "thread-123"},
        client_metadata={"thread_id": "thread-123"},
    )
    try:
        await _collect(client, request)
    finally:
        await client.aclose()

    (rec,) = mock_model.requests
    assert rec.path == "/v1/responses?api-version=2025-01-01"
    assert rec.headers["authorization"] == "Bearer sk-secret"
    assert rec.headers["originator"] == "threadline_tests"
    assert rec.headers["session-id"] == "thread-123"
    assert rec.headers["accept"] == "text/event-stream"
    body = rec.body
    assert list(body) == [
        "model",
        "stream",
        "input",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning",
        "store",
        "include",
        "prompt_cache_key",
        "client_metadata",
    ]
    assert body["stream"] is True and body["store"] is False
    assert body["tool_choice"] == "auto" and body["parallel_tool_calls"] is True
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["prompt_cache_key"] == "thread-123"
    assert body["client_metadata"] == {"thread_id": "thread-123"}
    assert body["tools"] == [tool]
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "run ls"}]},
        {
            "type": "function_call",
            "name": "exec_command",
            "arguments": '{"cmd":"ls"}',
            "call_id": "c1",
            "id": "fc_1",
        },
        {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "there is a.txt"}],
            "id": "msg_9",
        },
    ]


async def test_no_reasoning_means_no_include(
    mock_model: MockModel, responses_client: ResponsesClient
) -> None:
    mock_model.enqueue(text("ok"))
    await _collect(responses_client, _request(reasoning_summary=None, instructions="Be brief."))
    body = mock_model.requests[0].body
    assert "reasoning" not in body and "include" not in body
    # Codex sends no ``instructions`` field: the base instructions open the input.
    assert "instructions" not in body
    assert body["input"][0] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "Be brief."}],
    }


async def test_missing_api_key_names_the_env_var() -> None:
    client = ResponsesClient(
        provider_id="openai",
        base_url="https://api.example.invalid/v1",
        api_key=None,
        env_key="OPENAI_API_KEY",
    )
    try:
        with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
            await _collect(client, _request())
    finally:
        await client.aclose()


def test_context_window_lookup() -> None:
    client = ResponsesClient(
        provider_id="p",
        base_url="http://127.0.0.1:1/v1",
        api_key=None,
        context_windows={"big": 1_000_000},
    )
    assert client.context_window("big") == 1_000_000
    # No built-in fallback: the window of a model it has no entry for comes from the
    # model table (threadline.core.model_catalog), not from the client.
    assert client.context_window("other") is None
    assert client.provider_id == "p"
