"""Chat Completions client (Ollama, vLLM, llama.cpp servers, any OpenAI-compatible endpoint).

The model-visible history is kept in Responses shape everywhere else; this module
converts it to chat ``messages`` on the way out and turns the streamed chunks back
into Responses-shaped items (a synthetic assistant message, one function call per
streamed tool call) on the way in.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage

from threadline.model import rate_limits
from threadline.model.base import (
    ModelEvent,
    ModelRequest,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ResponseCompleted,
    ResponseCreated,
)
from threadline.model.responses import OpenAISdkClient
from threadline.model.retry import (
    RetryableFailure,
    classify_sdk_error,
    stream_with_retries,
)
from threadline.protocol.items import (
    ContentItem,
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    ResponseItem,
)
from threadline.protocol.text import scrub_surrogates
from threadline.protocol.usage import TokenUsage

__all__ = ["ChatCompletionsClient", "chat_messages", "chat_tools", "chat_usage"]

_ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant"}


def _message_content(item: MessageItem) -> str | list[dict[str, Any]]:
    if not any(part.type == "input_image" for part in item.content):
        return item.text()
    parts: list[dict[str, Any]] = []
    for part in item.content:
        if part.type == "input_image" and part.image_url:
            parts.append({"type": "image_url", "image_url": {"url": part.image_url}})
        elif part.text:
            parts.append({"type": "text", "text": part.text})
    return parts


def _output_images(output: Any) -> list[dict[str, Any]]:
    """The ``input_image`` parts of a tool output as chat ``image_url`` parts."""
    if not isinstance(output, list):
        return []
    return [
        {"type": "image_url", "image_url": {"url": p["image_url"]}}
        for p in output
        if isinstance(p, dict) and p.get("type") == "input_image" and p.get("image_url")
    ]


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = [p.get("text", "") for p in output if isinstance(p, dict)]
        if texts:
            return "".join(t for t in texts if isinstance(t, str))
    if isinstance(output, dict) and isinstance(output.get("content"), str):
        return str(output["content"])
    return json.dumps(output)


def chat_messages(request: ModelRequest) -> list[dict[str, Any]]:
    """Responses-shaped history → chat messages. Reasoning and unknown items are dropped;
    consecutive tool calls join the assistant message before them. A chat ``tool``
    message carries text only, so the images of tool outputs (``view_image``, a client
    tool's ``inputImage``) follow the run of tool messages as one ``user`` message."""
    messages: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []

    def flush_tool_images() -> None:
        if tool_images:
            intro = {"type": "text", "text": "Images returned by the tool calls above:"}
            messages.append({"role": "user", "content": [intro, *tool_images]})
            tool_images.clear()
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})

    def add_tool_call(call_id: str, name: str, arguments: str) -> None:
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})

    for item in request.input:
        if not isinstance(item, FunctionCallOutputItem | CustomToolCallOutputItem):
            flush_tool_images()
        if isinstance(item, MessageItem):
            role = _ROLES.get(item.role)
            if role is not None:
                messages.append({"role": role, "content": _message_content(item)})
        elif isinstance(item, FunctionCallItem):
            add_tool_call(item.call_id, item.name, item.arguments)
        elif isinstance(item, CustomToolCallItem):
            add_tool_call(item.call_id, item.name, item.input)
        elif isinstance(item, FunctionCallOutputItem | CustomToolCallOutputItem):
            images = _output_images(item.output)
            text = _output_text(item.output)
            if images and not text:
                text = f"[{len(images)} image(s) attached in the next message]"
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": text})
            tool_images.extend(images)
    flush_tool_images()
    return messages


def chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses ``function`` tools → chat tools; other tool kinds have no chat equivalent."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        if tool.get("type") != "function" or not tool.get("name"):
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    return out


def chat_usage(usage: CompletionUsage | None) -> TokenUsage | None:
    if usage is None:
        return None
    prompt_details = usage.prompt_tokens_details
    completion_details = usage.completion_tokens_details
    return TokenUsage(
        input_tokens=usage.prompt_tokens or 0,
        cached_input_tokens=(prompt_details.cached_tokens or 0) if prompt_details else 0,
        output_tokens=usage.completion_tokens or 0,
        reasoning_output_tokens=(completion_details.reasoning_tokens or 0)
        if completion_details
        else 0,
        total_tokens=usage.total_tokens or 0,
    )


@dataclass(slots=True)
class _PendingCall:
    call_id: str
    name: str = ""
    arguments: str = ""


class ChatCompletionsClient(OpenAISdkClient):
    """A :class:`~threadline.model.base.ModelClient` over ``/chat/completions`` streaming."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        self._check_key()
        async for event in stream_with_retries(lambda: self._attempt(request), self._policy):
            yield event

    async def _attempt(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        tools = chat_tools(request.tools)
        try:
            stream = await self._client.chat.completions.create(
                model=request.model,
                messages=cast(Any, scrub_surrogates(chat_messages(request))),
                tools=cast(Any, tools) if tools else openai.omit,
                parallel_tool_calls=request.parallel_tool_calls if tools else openai.omit,
                reasoning_effort=cast(Any, request.reasoning_effort)
                if request.reasoning_effort
                else openai.omit,
                stream=True,
                stream_options={"include_usage": True},
                response_format=_response_format(request),
                extra_headers=request.extra_headers or None,
            )
        except openai.APIError as err:
            rate_limits.record_failure(self._provider_id, err)
            raise classify_sdk_error(err) from err
        rate_limits.record(self._provider_id, stream.response.headers)
        state = _StreamState()
        try:
            async for chunk in stream:
                for event in state.feed(chunk):
                    yield event
        except openai.APIError as err:
            raise classify_sdk_error(err) from err
        finally:
            await stream.close()
        if not state.finished:
            raise RetryableFailure("stream closed before the model finished its answer")
        for event in state.finish():
            yield event


class _StreamState:
    """Accumulates chat chunks into Responses-shaped events."""

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.message_id: str | None = None
        self.text: list[str] = []
        self.calls: dict[int, _PendingCall] = {}
        self.usage: TokenUsage | None = None
        self.finished = False

    def feed(self, chunk: ChatCompletionChunk) -> list[ModelEvent]:
        events: list[ModelEvent] = []
        if self.response_id is None:
            self.response_id = chunk.id or f"chatcmpl_{uuid.uuid4().hex}"
            events.append(ResponseCreated(response_id=self.response_id))
        if chunk.usage is not None:
            self.usage = chat_usage(chunk.usage)
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta.content:
                if self.message_id is None:
                    self.message_id = f"msg_{uuid.uuid4().hex}"
                    added = MessageItem(role="assistant", content=[], id=self.message_id)
                    events.append(OutputItemAdded(item=added))
                self.text.append(delta.content)
                events.append(OutputTextDelta(item_id=self.message_id, delta=delta.content))
            for call in delta.tool_calls or ():
                pending = self.calls.get(call.index)
                if pending is None:
                    pending = _PendingCall(call_id=call.id or f"call_{uuid.uuid4().hex}")
                    self.calls[call.index] = pending
                elif call.id and not pending.name and not pending.arguments:
                    pending.call_id = call.id
                if call.function is not None:
                    pending.name += call.function.name or ""
                    pending.arguments += call.function.arguments or ""
            if choice.finish_reason is not None:
                self.finished = True
        return events

    def finish(self) -> list[ModelEvent]:
        events: list[ModelEvent] = []
        if self.message_id is not None:
            content = [ContentItem(type="output_text", text="".join(self.text))]
            message = MessageItem(role="assistant", content=content, id=self.message_id)
            events.append(OutputItemDone(item=message))
        for index in sorted(self.calls):
            pending = self.calls[index]
            item: ResponseItem = FunctionCallItem(
                name=pending.name, arguments=pending.arguments or "{}", call_id=pending.call_id
            )
            events.append(OutputItemDone(item=item))
        events.append(ResponseCompleted(response_id=self.response_id, usage=self.usage))
        return events


def _response_format(request: ModelRequest) -> Any:
    """``response_format`` for a turn's output schema (Chat Completions' counterpart of the
    Responses API's ``text.format``); omitted without one."""
    if request.output_schema is None:
        return openai.omit
    schema = {"name": "codex_output_schema", "schema": request.output_schema, "strict": True}
    return {"type": "json_schema", "json_schema": schema}
