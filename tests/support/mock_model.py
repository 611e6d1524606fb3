"""A scriptable mock model server: OpenAI Responses API and Chat Completions over real HTTP + SSE.

Use it in-process from pytest (it serves from a background thread)::

    with MockModel() as mock:
        mock.enqueue(text("hello"), function_call("exec_command", {"cmd": "ls"}))
        client = ResponsesClient(provider_id="mock", base_url=mock.base_url, api_key="k")
        ...

or standalone for benchmarks::

    python tests/support/mock_model.py --port 8089 --text "hi there" --chunks 200

Each incoming ``POST /v1/responses`` or ``POST /v1/chat/completions`` consumes one
script from the FIFO queue (or the default script when the queue is empty). The same
script renders as Responses SSE or as Chat Completions SSE depending on the path.
Only the standard library is used, so the file also runs outside the test venv.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "DEFAULT_USAGE",
    "Gate",
    "MockModel",
    "RecordedRequest",
    "Script",
    "ScriptSource",
    "Usage",
    "disconnect_after",
    "custom_tool_call",
    "compaction",
    "context_length_exceeded",
    "failed",
    "function_call",
    "http_error",
    "reasoning",
    "text",
    "usage",
]


# ---- scripts -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    input: int
    cached: int
    output: int
    reasoning: int
    total: int

    def responses_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input,
            "input_tokens_details": {"cached_tokens": self.cached},
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.total,
        }

    def chat_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.input,
            "completion_tokens": self.output,
            "total_tokens": self.total,
            "prompt_tokens_details": {"cached_tokens": self.cached},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning},
        }


def usage(
    input: int = 0, cached: int = 0, output: int = 0, reasoning: int = 0, total: int | None = None
) -> Usage:
    """Token usage reported in ``response.completed``; ``total`` defaults to input + output."""
    return Usage(input, cached, output, reasoning, input + output if total is None else total)


DEFAULT_USAGE = usage(input=100, cached=0, output=20, reasoning=0)
"""Usage reported when a script gives none."""


class Gate(threading.Event):
    """A stream holds before its first delta until the test calls :meth:`set` (or 30 s pass)."""


@dataclass(frozen=True, slots=True)
class _Reasoning:
    text: str
    item_id: str | None


@dataclass(frozen=True, slots=True)
class _Message:
    text: str
    chunks: int | None
    item_id: str | None


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    arguments: str
    call_id: str | None
    item_id: str | None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class _CustomCall:
    """A freeform (``custom``) tool call whose ``input`` streams in ``chunks`` deltas."""

    name: str
    input: str
    chunks: int
    call_id: str | None
    item_id: str | None


@dataclass(frozen=True, slots=True)
class _Compaction:
    """A ``compaction`` output item (the answer to a ``compaction_trigger`` input item)."""

    encrypted_content: str
    item_id: str | None


_Output = _Reasoning | _Message | _Call | _CustomCall | _Compaction


@dataclass(frozen=True, slots=True)
class Script:
    """What the mock answers to one request. Build with the helper functions; join with ``+``."""

    outputs: tuple[_Output, ...] = ()
    usage: Usage | None = None
    delay_s: float = 0.0
    """Pause before each delta event (the mock notices a client disconnect while waiting)."""
    gate: Gate | None = None
    status: int = 200
    error_body: dict[str, Any] | None = None
    retry_after: float | None = None
    cut_after_deltas: int | None = None
    """Drop the connection after this many delta events (no ``response.completed``);
    0 drops it before the first output item."""
    failure: dict[str, Any] | None = None
    """Send ``response.failed`` with this error instead of ``response.completed``."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra HTTP headers of the answer (``x-ratelimit-*``): ``replace(text("x"), headers=...)``."""

    def __add__(self, other: Script) -> Script:
        return replace(
            self,
            outputs=self.outputs + other.outputs,
            usage=other.usage or self.usage,
            delay_s=max(self.delay_s, other.delay_s),
            gate=self.gate or other.gate,
            cut_after_deltas=other.cut_after_deltas
            if other.cut_after_deltas is not None
            else self.cut_after_deltas,
            failure=other.failure or self.failure,
            headers=self.headers + other.headers,
        )


def text(
    message: str,
    *,
    chunks: int | None = None,
    delay_s: float = 0,
    usage: Usage | None = None,
    item_id: str | None = None,
    reasoning: str | None = None,
    gate: Gate | None = None,
) -> Script:
    """An assistant message streamed as deltas (split on words, or into ``chunks`` pieces)."""
    outputs: tuple[_Output, ...] = (_Message(message, chunks, item_id),)
    if reasoning is not None:
        outputs = (_Reasoning(reasoning, None), *outputs)
    return Script(outputs=outputs, usage=usage, delay_s=delay_s, gate=gate)


def reasoning(summary: str, *, item_id: str | None = None) -> Script:
    """A reasoning item with one summary part; combine with ``+``."""
    return Script(outputs=(_Reasoning(summary, item_id),))


def function_call(
    name: str,
    arguments: dict[str, Any] | str,
    *,
    call_id: str | None = None,
    usage: Usage | None = None,
    text_before: str | None = None,
    item_id: str | None = None,
    namespace: str | None = None,
) -> Script:
    """A function call item (optionally preceded by an assistant message); ``namespace``
    names the namespace tool it belongs to (Responses API only)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    outputs: tuple[_Output, ...] = (_Call(name, args, call_id, item_id, namespace),)
    if text_before is not None:
        outputs = (_Message(text_before, None, None), *outputs)
    return Script(outputs=outputs, usage=usage)


def custom_tool_call(
    name: str,
    input: str,
    *,
    chunks: int = 1,
    call_id: str | None = None,
    usage: Usage | None = None,
    item_id: str | None = None,
) -> Script:
    """A freeform tool call (``custom_tool_call``) with its input streamed in ``chunks`` pieces.

    Chat Completions has no custom tools: there it renders as a function call whose
    arguments are ``{"input": ...}``."""
    outputs: tuple[_Output, ...] = (_CustomCall(name, input, max(1, chunks), call_id, item_id),)
    return Script(outputs=outputs, usage=usage)


def http_error(
    status: int, body: dict[str, Any] | None = None, retry_after: float | None = None
) -> Script:
    """Answer with a plain HTTP error (JSON body, optional ``Retry-After`` seconds)."""
    return Script(status=status, error_body=body, retry_after=retry_after)


def disconnect_after(chunks: int, message: str = "this stream will break") -> Script:
    """Stream ``chunks`` deltas of ``message``, then drop the connection mid-body.

    ``chunks=0`` drops it right after ``response.created`` (before any output item).
    """
    padded = message.ljust(chunks + 1, ".")
    return Script(outputs=(_Message(padded, chunks + 1, None),), cut_after_deltas=chunks)


def compaction(
    encrypted_content: str = "opaque-compaction-state", *, usage: Usage | None = None
) -> Script:
    """One ``compaction`` output item, as a remote compaction request is answered."""
    return Script(outputs=(_Compaction(encrypted_content, None),), usage=usage)


def context_length_exceeded(*, streamed: bool = True) -> Script:
    """The model's "does not fit" failure: ``response.failed`` with the
    ``context_length_exceeded`` code, or (``streamed=False``) an HTTP 400 carrying it."""
    message = "Your input exceeds the context window of this model."
    if not streamed:
        error = {"message": message, "type": "invalid_request_error"}
        return http_error(400, {"error": {**error, "code": "context_length_exceeded"}})
    return failed(message, code="context_length_exceeded")


def failed(message: str, *, code: str = "server_error") -> Script:
    """``response.created`` followed by ``response.failed`` carrying this error."""
    return Script(failure={"code": code, "message": message})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


ScriptSource = Script | Callable[[RecordedRequest], Script]


# ---- rendering -------------------------------------------------------------------


def _split(message: str, chunks: int | None) -> list[str]:
    if not message:
        return [""]
    if chunks is None:
        pieces: list[str] = []
        start = 0
        for i, ch in enumerate(message):
            if ch == " " and i + 1 < len(message):
                pieces.append(message[start : i + 1])
                start = i + 1
        pieces.append(message[start:])
        return pieces
    n = max(1, min(chunks, len(message)))
    size, extra = divmod(len(message), n)
    out, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(message[pos : pos + step])
        pos += step
    return out


@dataclass(slots=True)
class _Frame:
    data: bytes
    delta: bool = False
    item_start: bool = False


@dataclass(slots=True)
class _Plan:
    frames: list[_Frame] = field(default_factory=list)


class _Ids:
    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_mock_{next(self._counter)}"


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _render_responses(script: Script, model: str, ids: _Ids) -> _Plan:
    plan = _Plan()
    seq = itertools.count()
    resp_id = ids.next("resp")
    created_at = int(time.time())

    def emit(event: dict[str, Any], delta: bool = False) -> None:
        event["sequence_number"] = next(seq)
        start = event["type"] == "response.output_item.added"
        plan.frames.append(_Frame(_sse(event), delta, start))

    def response(status: str, output: list[Any]) -> dict[str, Any]:
        return {
            "id": resp_id,
            "object": "response",
            "created_at": created_at,
            "status": status,
            "model": model,
            "output": output,
        }

    emit({"type": "response.created", "response": response("in_progress", [])})
    emit({"type": "response.in_progress", "response": response("in_progress", [])})
    done_items: list[dict[str, Any]] = []
    for index, out in enumerate(script.outputs):
        if isinstance(out, _Message):
            item_id = out.item_id or ids.next("msg")
            base = {"id": item_id, "type": "message", "role": "assistant"}
            loc = {"item_id": item_id, "output_index": index, "content_index": 0}
            emit(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**base, "status": "in_progress", "content": []},
                }
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            emit({"type": "response.content_part.added", **loc, "part": part})
            for piece in _split(out.text, out.chunks):
                emit({"type": "response.output_text.delta", **loc, "delta": piece}, delta=True)
            emit({"type": "response.output_text.done", **loc, "text": out.text})
            part = {"type": "output_text", "text": out.text, "annotations": []}
            emit({"type": "response.content_part.done", **loc, "part": part})
            item = {**base, "status": "completed", "content": [part]}
        elif isinstance(out, _Reasoning):
            item_id = out.item_id or ids.next("rs")
            loc = {"item_id": item_id, "output_index": index, "summary_index": 0}
            emit(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {"id": item_id, "type": "reasoning", "summary": []},
                }
            )
            part = {"type": "summary_text", "text": ""}
            emit({"type": "response.reasoning_summary_part.added", **loc, "part": part})
            for piece in _split(out.text, None):
                emit(
                    {"type": "response.reasoning_summary_text.delta", **loc, "delta": piece},
                    delta=True,
                )
            emit({"type": "response.reasoning_summary_text.done", **loc, "text": out.text})
            part = {"type": "summary_text", "text": out.text}
            emit({"type": "response.reasoning_summary_part.done", **loc, "part": part})
            item = {
                "id": item_id,
                "type": "reasoning",
                "summary": [part],
                "encrypted_content": f"enc:{item_id}",
            }
        elif isinstance(out, _Compaction):
            item_id = out.item_id or ids.next("cmp")
            item = {"id": item_id, "type": "compaction", "encrypted_content": out.encrypted_content}
            emit({"type": "response.output_item.added", "output_index": index, "item": item})
        elif isinstance(out, _CustomCall):
            item_id = out.item_id or ids.next("ctc")
            call_id = out.call_id or ids.next("call")
            base = {"id": item_id, "type": "custom_tool_call", "name": out.name, "call_id": call_id}
            loc = {"item_id": item_id, "output_index": index}
            emit(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**base, "status": "in_progress", "input": ""},
                }
            )
            size = max(1, -(-len(out.input) // out.chunks))
            for start in range(0, len(out.input), size):
                piece = out.input[start : start + size]
                emit(
                    {"type": "response.custom_tool_call_input.delta", **loc, "delta": piece},
                    delta=True,
                )
            emit({"type": "response.custom_tool_call_input.done", **loc, "input": out.input})
            item = {**base, "status": "completed", "input": out.input}
        else:
            item_id = out.item_id or ids.next("fc")
            call_id = out.call_id or ids.next("call")
            base = {"id": item_id, "type": "function_call", "name": out.name, "call_id": call_id}
            if out.namespace is not None:
                base["namespace"] = out.namespace
            loc = {"item_id": item_id, "output_index": index}
            emit(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**base, "status": "in_progress", "arguments": ""},
                }
            )
            emit(
                {"type": "response.function_call_arguments.delta", **loc, "delta": out.arguments},
                delta=True,
            )
            emit(
                {"type": "response.function_call_arguments.done", **loc, "arguments": out.arguments}
            )
            item = {**base, "status": "completed", "arguments": out.arguments}
        emit({"type": "response.output_item.done", "output_index": index, "item": item})
        done_items.append(item)
    if script.failure is not None:
        body = response("failed", done_items)
        body["error"] = script.failure
        emit({"type": "response.failed", "response": body})
        return plan
    final = response("completed", done_items)
    final["usage"] = (script.usage or DEFAULT_USAGE).responses_json()
    emit({"type": "response.completed", "response": final})
    return plan


def _render_chat(script: Script, model: str, ids: _Ids, include_usage: bool) -> _Plan:
    plan = _Plan()
    chat_id = ids.next("chatcmpl")
    created = int(time.time())

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        body: dict[str, Any] = {
            "id": chat_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    plan.frames.append(_Frame(chunk({"role": "assistant", "content": ""})))
    tool_index = 0
    for out in script.outputs:
        if isinstance(out, _Message):
            for piece in _split(out.text, out.chunks):
                plan.frames.append(_Frame(chunk({"content": piece}), delta=True))
        elif isinstance(out, _Reasoning):
            for piece in _split(out.text, None):
                plan.frames.append(_Frame(chunk({"reasoning_content": piece}), delta=True))
        elif isinstance(out, _Compaction):
            continue  # Chat Completions has no compaction items
        else:
            call_id = out.call_id or ids.next("call")
            head = {
                "index": tool_index,
                "id": call_id,
                "type": "function",
                "function": {"name": out.name, "arguments": ""},
            }
            plan.frames.append(_Frame(chunk({"tool_calls": [head]})))
            arguments = (
                json.dumps({"input": out.input}) if isinstance(out, _CustomCall) else out.arguments
            )
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                args = {"index": tool_index, "function": {"arguments": piece}}
                plan.frames.append(_Frame(chunk({"tool_calls": [args]}), delta=True))
            tool_index += 1
    if script.failure is not None:
        err = {"error": script.failure}
        plan.frames.append(_Frame(b"data: " + json.dumps(err).encode() + b"\n\n"))
        return plan
    finish = "tool_calls" if tool_index else "stop"
    plan.frames.append(_Frame(chunk({}, finish)))
    if include_usage:
        plan.frames.append(_Frame(chunk(None, usage=(script.usage or DEFAULT_USAGE).chat_json())))
    plan.frames.append(_Frame(b"data: [DONE]\n\n"))
    return plan


# ---- server ----------------------------------------------------------------------------


class _Disconnected(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Every SSE event leaves at once, as from a real streaming server; with Nagle's
    # algorithm a small write waits for the previous one's ACK (up to 40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            model = {"id": "mock-model", "object": "model", "created": 0, "owned_by": "threadline"}
            self._json(200, {"object": "list", "data": [model]})
        else:
            self._json(404, {"error": {"message": f"no route for GET {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = self.path.split("?", 1)[0].rstrip("/")
        rec = RecordedRequest(
            method="POST",
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        mock = self.server.mock
        if not (path.endswith("/responses") or path.endswith("/chat/completions")):
            self._json(404, {"error": {"message": f"no route for POST {self.path}"}})
            return
        mock._record(rec)
        script = mock._next_script(rec)
        if script is None:
            msg = "mock model: no script queued for this request"
            self._json(400, {"error": {"message": msg, "type": "invalid_request_error"}})
            return
        if script.status != 200:
            self._send_error_script(script)
            return
        model = body.get("model", "mock-model") if isinstance(body, dict) else "mock-model"
        if path.endswith("/responses"):
            plan = _render_responses(script, model, mock._ids)
        else:
            opts = body.get("stream_options") if isinstance(body, dict) else None
            include = isinstance(opts, dict) and bool(opts.get("include_usage"))
            plan = _render_chat(script, model, mock._ids, include)
        try:
            self._stream(plan, script)
        except (_Disconnected, BrokenPipeError, ConnectionResetError):
            mock._count_disconnect()
            self.close_connection = True

    def _send_error_script(self, script: Script) -> None:
        status = script.status
        body = script.error_body
        if body is None:
            kind = "invalid_request_error" if status < 500 else "server_error"
            body = {"error": {"message": f"mock error {status}", "type": kind, "code": None}}
        headers = dict(script.headers)
        if script.retry_after is not None:
            headers["Retry-After"] = f"{script.retry_after:g}"
        self._json(status, body, headers)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _wait(self, seconds: float) -> None:
        """Sleep, but raise :class:`_Disconnected` as soon as the client goes away."""
        sock = self.connection
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.05))
            if readable:
                try:
                    peek = sock.recv(1, socket.MSG_PEEK)
                except OSError as err:
                    raise _Disconnected() from err
                if not peek:
                    raise _Disconnected()

    def _stream(self, plan: _Plan, script: Script) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in script.headers:
            self.send_header(name, value)
        self.end_headers()
        simple = script.delay_s <= 0 and script.gate is None and script.cut_after_deltas is None
        if simple:
            self._chunk(b"".join(f.data for f in plan.frames))
            self.wfile.write(b"0\r\n\r\n")
            return
        deltas = 0
        gate = script.gate
        for frame in plan.frames:
            if frame.item_start and script.cut_after_deltas == 0:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if frame.delta:
                if script.cut_after_deltas is not None and deltas >= script.cut_after_deltas:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if gate is not None:
                    deadline = time.monotonic() + 30
                    while not gate.is_set() and time.monotonic() < deadline:
                        self._wait(0.02)
                    gate = None
                if script.delay_s > 0:
                    self._wait(script.delay_s)
                deltas += 1
            self._chunk(frame.data)
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many threads connect at once in the concurrency tests

    def __init__(self, address: tuple[str, int], mock: MockModel) -> None:
        super().__init__(address, _Handler)
        self.mock = mock

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connection errors from clients that went away are expected


class MockModel:
    """The mock server. A context manager; ``base_url`` ends in ``/v1``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._lock = threading.Condition()
        self._queue: deque[ScriptSource] = deque()
        self._default: ScriptSource | None = None
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._ids = _Ids()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> MockModel:
        if self._server is None:
            self._server = _Server(self._address, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> MockModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "MockModel is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # scripting
    def enqueue(self, *scripts: ScriptSource) -> None:
        with self._lock:
            self._queue.extend(scripts)

    def set_default(self, script: ScriptSource | None) -> None:
        with self._lock:
            self._default = script

    def pending(self) -> int:
        """Scripts still queued."""
        with self._lock:
            return len(self._queue)

    # observation
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def disconnects(self) -> int:
        with self._lock:
            return self._disconnects

    def wait_for_requests(self, n: int, timeout: float = 10) -> list[RecordedRequest]:
        """Block until ``n`` requests arrived; raise ``TimeoutError`` otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= n, timeout=timeout):
                raise TimeoutError(f"expected {n} requests, got {len(self._requests)}")
            return list(self._requests)

    def wait_for_disconnects(self, n: int, timeout: float = 10) -> int:
        with self._lock:
            if not self._lock.wait_for(lambda: self._disconnects >= n, timeout=timeout):
                raise TimeoutError(f"expected {n} disconnects, got {self._disconnects}")
            return self._disconnects

    async def async_wait_for_requests(self, n: int, timeout: float = 10) -> list[RecordedRequest]:
        """Like :meth:`wait_for_requests` without blocking the event loop."""
        await _poll(lambda: len(self.requests) >= n, timeout, f"{n} requests")
        return self.requests

    async def async_wait_for_disconnects(self, n: int, timeout: float = 10) -> int:
        await _poll(lambda: self.disconnects >= n, timeout, f"{n} disconnects")
        return self.disconnects

    # called by handler threads
    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)
            self._lock.notify_all()

    def _count_disconnect(self) -> None:
        with self._lock:
            self._disconnects += 1
            self._lock.notify_all()

    def _next_script(self, rec: RecordedRequest) -> Script | None:
        with self._lock:
            source = self._queue.popleft() if self._queue else self._default
        if source is None:
            return None
        return source if isinstance(source, Script) else source(rec)


async def _poll(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"mock model: timed out waiting for {what}")
        await asyncio.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the threadline mock model server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--text", default="Hello from the mock model.")
    parser.add_argument("--chunks", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    mock = MockModel(args.host, args.port)
    mock.set_default(text(args.text, chunks=args.chunks, delay_s=args.delay))
    mock.start()
    print(f"mock model listening on http://{args.host}:{mock.port}/v1", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        mock.stop()


if __name__ == "__main__":
    main()
