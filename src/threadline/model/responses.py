"""OpenAI Responses API client: ``POST {base_url}/responses`` streamed as SSE, mapped to ModelEvents.

The request goes through the official SDK's HTTP client (``AsyncOpenAI.post`` with an
``AsyncStream`` of plain decoded JSON), so authentication, headers and SSE decoding are the
SDK's, while the body and the event payloads stay untyped JSON we control: unknown
fields from newer servers pass through to :func:`parse_response_item` untouched.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncGenerator
from typing import Any

import openai
import pydantic_core
from pydantic import ValidationError

from threadline.model import rate_limits
from threadline.model.base import (
    CONTEXT_LENGTH_EXCEEDED,
    ContextWindowExceeded,
    ModelConfigError,
    ModelError,
    ModelEvent,
    ModelRequest,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseCompleted,
    ResponseCreated,
    ToolInputDelta,
)
from threadline.model.retry import (
    RetryableFailure,
    RetryPolicy,
    classify_sdk_error,
    stream_with_retries,
)
from threadline.protocol.items import dump_response_item, parse_response_item
from threadline.protocol.net import is_loopback_url
from threadline.protocol.text import scrub_surrogates
from threadline.protocol.usage import TokenUsage

__all__ = ["ResponsesClient", "build_responses_body", "is_loopback_url", "responses_usage"]

log = logging.getLogger(__name__)

_RETRYABLE_FAILURE_CODES = frozenset(
    {"rate_limit_exceeded", "server_error", "server_is_overloaded", "slow_down"}
)


class SseDecoder:
    """Splits a server-sent-event byte stream into the ``data`` payloads of its events.

    Works on whole received blocks: a block holding many events is split with one
    ``bytes.split`` instead of a line-at-a-time state machine. ``event:``, ``id:``,
    ``retry:`` and comment lines carry nothing the Responses API needs and are skipped;
    multi-line ``data`` is joined with newlines as the SSE format says.
    """

    __slots__ = ("_data", "_tail")

    def __init__(self) -> None:
        self._tail: list[bytes] = []  # an unfinished line, kept in pieces until it ends
        self._data: list[bytes] = []

    def feed(self, block: bytes) -> list[bytes]:
        if b"\n" not in block and b"\r" not in block:
            # Still inside one line (a long ``output_item.done`` spans many blocks):
            # joining and re-splitting it on every block would be quadratic.
            if block:
                self._tail.append(block)
            return []
        if self._tail:
            self._tail.append(block)
            block = b"".join(self._tail)
            self._tail.clear()
        if b"\r" in block:
            # A CR at the very end may be the first half of a CRLF split across blocks.
            keep_cr = block.endswith(b"\r")
            if keep_cr:
                block = block[:-1]
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = block.split(b"\n")
            last = lines.pop() + (b"\r" if keep_cr else b"")
        else:
            lines = block.split(b"\n")
            last = lines.pop()
        if last:
            self._tail.append(last)
        out: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data.clear()
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
        return out

    def flush(self) -> list[bytes]:
        """The last event of a stream that ended without its blank line."""
        out = self.feed(b"\n\n") if (self._tail or self._data) else []
        self._tail.clear()
        return out


class _RawEventStream(openai.AsyncStream[object]):
    """Server-sent events decoded straight from the HTTP body's bytes.

    The SDK's decoder walks the body a line at a time through a state machine and
    hands events over one by one; this decodes each received block at once with
    :class:`SseDecoder` and :meth:`batches` yields all the events a block held, so a
    model streaming faster than we read costs one pass per block rather than per
    event. Error payloads raise ``openai.APIError`` exactly as the SDK's stream does.
    """

    async def __stream__(self) -> Any:
        async for batch in self.batches():
            for event in batch:
                yield event

    async def batches(self) -> AsyncGenerator[list[Any], None]:
        """Lists of decoded event payloads, one list per received block (never empty)."""
        response = self.response
        decoder = SseDecoder()
        done = False
        try:
            async for block in self._blocks():
                batch, done = self._decode_all(decoder.feed(block))
                if batch:
                    yield batch
                if done:
                    return
            batch, done = self._decode_all(decoder.flush())
            if batch:
                yield batch
        finally:
            await response.aclose()

    def _decode_all(self, payloads: list[bytes]) -> tuple[list[Any], bool]:
        events: list[Any] = []
        for data in payloads:
            if data.startswith(b"[DONE]"):
                return events, True
            events.append(self._decode(data))
        return events, False

    async def _blocks(self) -> AsyncGenerator[bytes, None]:
        """The body as received; transport failures become the SDK's timeout/connection errors."""
        iterator = self.response.aiter_bytes().__aiter__()
        while True:
            try:
                block = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except openai.APIError:
                raise
            except Exception as err:
                if isinstance(err, TimeoutError) or "Timeout" in type(err).__name__:
                    raise openai.APITimeoutError(request=self.response.request) from err
                raise openai.APIConnectionError(request=self.response.request) from err
            yield block

    def _decode(self, data: bytes) -> Any:
        try:
            payload = pydantic_core.from_json(data)
        except ValueError as err:
            raise openai.APIError(
                message=f"the model server sent an event that is not JSON: {data[:200]!r}",
                request=self.response.request,
                body=None,
            ) from err
        if isinstance(payload, dict) and payload.get("error"):
            error = payload["error"]
            message = error.get("message") if isinstance(error, dict) else None
            raise openai.APIError(
                message=message if isinstance(message, str) and message else
                "An error occurred during streaming",
                request=self.response.request,
                body=error,
            )
        return payload


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def responses_usage(raw: Any) -> TokenUsage | None:
    """Map a Responses API ``usage`` object to :class:`TokenUsage` (``total_tokens`` copied)."""
    if not isinstance(raw, dict):
        return None
    in_details = raw.get("input_tokens_details") or {}
    out_details = raw.get("output_tokens_details") or {}
    return TokenUsage(
        input_tokens=_int(raw.get("input_tokens")),
        cached_input_tokens=_int(in_details.get("cached_tokens"))
        if isinstance(in_details, dict)
        else 0,
        output_tokens=_int(raw.get("output_tokens")),
        reasoning_output_tokens=_int(out_details.get("reasoning_tokens"))
        if isinstance(out_details, dict)
        else 0,
        total_tokens=_int(raw.get("total_tokens")),
    )


OUTPUT_SCHEMA_NAME = "codex_output_schema"
"""The name Codex gives a turn's output schema in the request."""


def structured_output(schema: dict[str, Any]) -> dict[str, Any]:
    """The Responses API's ``text.format`` for a strict JSON schema."""
    return {"type": "json_schema", "strict": True, "schema": schema, "name": OUTPUT_SCHEMA_NAME}


def build_responses_body(request: ModelRequest) -> dict[str, Any]:
    """The JSON body Codex sends, in Codex's key order.

    As in Codex there is no ``instructions`` field: the base instructions open ``input``
    as a developer message (they are never part of the recorded history).
    """
    body: dict[str, Any] = {"model": request.model, "stream": True}
    items = [dump_response_item(item) for item in request.input]
    if request.instructions:
        items.insert(
            0,
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": request.instructions}],
            },
        )
    body["input"] = items
    body["tools"] = list(request.tools)
    body["tool_choice"] = "auto"
    body["parallel_tool_calls"] = request.parallel_tool_calls
    reasoning: dict[str, Any] = {}
    if request.reasoning_effort is not None:
        reasoning["effort"] = request.reasoning_effort
    if request.reasoning_summary is not None:
        reasoning["summary"] = request.reasoning_summary
    if reasoning:
        body["reasoning"] = reasoning
    body["store"] = False
    if reasoning:
        body["include"] = ["reasoning.encrypted_content"]
    if request.output_schema is not None:  # as Codex sends turn/start's outputSchema
        body["text"] = {"format": structured_output(request.output_schema)}
    if request.prompt_cache_key is not None:
        body["prompt_cache_key"] = request.prompt_cache_key
    if request.client_metadata:
        body["client_metadata"] = dict(request.client_metadata)
    return body


def _failure_from_error(error: Any, fallback: str) -> ModelError | RetryableFailure:
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    text = message if isinstance(message, str) and message else fallback
    if isinstance(code, str) and code:
        text = f"{text} ({code})"
    if code in _RETRYABLE_FAILURE_CODES:
        return RetryableFailure(text)
    if code == CONTEXT_LENGTH_EXCEEDED:
        return ContextWindowExceeded(text)
    return ModelError(text)


def _http_client() -> Any:
    """The SDK's aiohttp-backed HTTP client when ``aiohttp`` is installed, else ``None``
    (the SDK's default httpx client).

    aiohttp parses a chunked SSE body in C and hands over everything that has arrived
    in one read, where httpx's pure-Python HTTP/1.1 parser yields one chunk (one event)
    at a time; on a fast stream that was half of the per-delta CPU. Both honour the
    proxy and certificate environment variables.
    """
    if importlib.util.find_spec("aiohttp") is None:
        return None
    return openai.DefaultAioHttpClient()


class OpenAISdkClient:
    """What the Responses and Chat Completions clients share: one ``AsyncOpenAI`` per
    provider (the SDK's own retries off; ours are in :mod:`threadline.model.retry`),
    the key check and the context-window table."""

    FALLBACK_CONTEXT_WINDOW: int | None = None

    def __init__(
        self,
        *,
        provider_id: str,
        base_url: str | None,
        api_key: str | None,
        headers: dict[str, str] | None = None,
        query_params: dict[str, str] | None = None,
        max_retries: int = 4,
        backoff_base_s: float = 0.2,
        stream_idle_timeout_s: float = 300,
        context_windows: dict[str, int] | None = None,
        default_context_window: int | None = None,
        env_key: str | None = None,
    ) -> None:
        """``env_key`` names the variable the key should come from; when it is set, the key
        is missing and the server is not loopback, :meth:`stream` raises ModelConfigError."""
        self._provider_id = provider_id
        self._base_url = base_url
        self._missing_key_var = (
            env_key if api_key is None and env_key and not is_loopback_url(base_url) else None
        )
        self._policy = RetryPolicy(max_retries=max_retries, backoff_base_s=backoff_base_s)
        self._context_windows = dict(context_windows or {})
        self._default_context_window = (
            default_context_window
            if default_context_window is not None
            else self.FALLBACK_CONTEXT_WINDOW
        )
        self._client = openai.AsyncOpenAI(
            http_client=_http_client(),
            base_url=base_url,
            api_key=api_key or "unused",
            max_retries=0,
            timeout=openai.Timeout(stream_idle_timeout_s, connect=min(stream_idle_timeout_s, 30.0)),
            default_headers=headers,
            default_query=query_params,
        )

    @property
    def provider_id(self) -> str:
        return self._provider_id

    def context_window(self, model: str) -> int | None:
        return self._context_windows.get(model, self._default_context_window)

    async def aclose(self) -> None:
        await self._client.close()

    def _check_key(self) -> None:
        if self._missing_key_var is not None:
            raise ModelConfigError(
                f"provider {self._provider_id!r} needs an API key: set the environment "
                f"variable {self._missing_key_var}"
            )


class ResponsesClient(OpenAISdkClient):
    """A :class:`~threadline.model.base.ModelClient` for the OpenAI Responses API."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        self._check_key()
        # A lone surrogate (a non-UTF-8 cwd) cannot be sent as UTF-8: U+FFFD, as stored.
        body = scrub_surrogates(build_responses_body(request))
        headers = {"Accept": "text/event-stream", **request.extra_headers}
        async for event in stream_with_retries(lambda: self._attempt(body, headers), self._policy):
            yield event

    async def _attempt(
        self, body: dict[str, Any], headers: dict[str, str]
    ) -> AsyncGenerator[ModelEvent, None]:
        try:
            stream = await self._client.post(
                "/responses",
                cast_to=object,
                body=body,
                options={"headers": headers, "security": {"bearer_auth": True}},
                stream=True,
                # ``object`` makes the SDK hand over each decoded event as-is; a typed
                # item would be walked and rebuilt field by field on every delta.
                stream_cls=_RawEventStream,
            )
        except openai.APIError as err:
            rate_limits.record_failure(self._provider_id, err)
            raise classify_sdk_error(err) from err
        rate_limits.record(self._provider_id, stream.response.headers)
        try:
            async for batch in stream.batches():
                for data in batch:
                    event = self._map_event(data)
                    if event is None:
                        continue
                    yield event
                    if isinstance(event, ResponseCompleted):
                        return
        except openai.APIError as err:
            raise classify_sdk_error(err) from err
        finally:
            await stream.close()
        raise RetryableFailure("stream closed before response.completed")

    def _map_event(self, data: Any) -> ModelEvent | None:
        if not isinstance(data, dict):
            return None
        kind = data.get("type")
        if kind == "response.output_text.delta":
            return OutputTextDelta(
                item_id=str(data.get("item_id", "")), delta=data.get("delta", "")
            )
        if kind == "response.reasoning_summary_text.delta":
            return ReasoningSummaryDelta(
                item_id=str(data.get("item_id", "")),
                delta=data.get("delta", ""),
                summary_index=_int(data.get("summary_index")),
            )
        if kind == "response.reasoning_summary_part.added":
            return ReasoningSummaryPartAdded(
                item_id=str(data.get("item_id", "")), summary_index=_int(data.get("summary_index"))
            )
        if kind == "response.custom_tool_call_input.delta":
            return ToolInputDelta(item_id=str(data.get("item_id", "")), delta=data.get("delta", ""))
        if kind == "response.output_item.added":
            try:
                return OutputItemAdded(item=parse_response_item(data.get("item")))
            except ValidationError:
                log.debug("ignoring unparsable output_item.added: %r", data.get("item"))
                return None
        if kind == "response.output_item.done":
            try:
                return OutputItemDone(item=parse_response_item(data.get("item")))
            except ValidationError as err:
                raise ModelError(f"model sent a malformed output item: {err}") from err
        response = data.get("response")
        response = response if isinstance(response, dict) else {}
        if kind == "response.created":
            rid = response.get("id")
            return ResponseCreated(response_id=rid if isinstance(rid, str) else None)
        if kind == "response.completed":
            rid = response.get("id")
            return ResponseCompleted(
                response_id=rid if isinstance(rid, str) else None,
                usage=responses_usage(response.get("usage")),
            )
        if kind == "response.failed":
            raise _failure_from_error(response.get("error"), "the model response failed")
        if kind == "response.incomplete":
            details = response.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            raise ModelError(f"incomplete response returned, reason: {reason or 'unknown'}")
        if kind == "error":
            raise _failure_from_error(data, "the model server reported an error")
        return None
