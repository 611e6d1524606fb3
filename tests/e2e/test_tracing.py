"""Trace context and OpenTelemetry export, over the real stdio app-server.

A request's ``trace`` (W3C trace context on the JSON-RPC envelope) becomes the parent of
the turn it starts; with Codex's ``[otel]`` keys pointing an ``otlp-http`` trace exporter
at a collector, the turn, each model request and each tool call arrive there as spans of
that trace. The collector is a real HTTP server on 127.0.0.1 written here: it decodes the
protobuf ``ExportTraceServiceRequest`` the exporter posts. Without ``[otel]`` the server
never imports OpenTelemetry (checked with ``PYTHONPROFILEIMPORTTIME``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer, write_mock_config
from tests.support.mock_model import MockModel, function_call, text

pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def _attributes(attributes: Any) -> dict[str, str]:
    return {a.key: a.value.string_value for a in attributes}


def _span(span: Any, resource: dict[str, str]) -> dict[str, Any]:
    return {
        "name": span.name,
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_id": span.parent_span_id.hex(),
        "attributes": _attributes(span.attributes),
        "resource": resource,
    }


class Collector:
    """An OTLP/HTTP trace collector: every span posted to ``/v1/traces``, decoded."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                found = [
                    _span(span, _attributes(resource_spans.resource.attributes))
                    for resource_spans in request.resource_spans
                    for scope in resource_spans.scope_spans
                    for span in scope.spans
                ]
                with collector.lock:
                    collector.spans.extend(found)
                    collector.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    async def wait_for(self, names: list[str], timeout: float = 15) -> list[dict[str, Any]]:
        """The spans once every name in ``names`` arrived (as often as it is listed)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                spans = list(self.spans)
            got = [s["name"] for s in spans]
            if all(got.count(n) >= names.count(n) for n in names):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"spans {names} expected, got {got}")
            await asyncio.sleep(0.1)


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    c.thread.start()
    yield c
    c.server.shutdown()
    c.server.server_close()


def _otel_config(endpoint: str) -> str:
    return (
        "[otel]\n"
        'environment = "ci"\n'
        'span_attributes = { team = "tools" }\n'
        f'trace_exporter = {{ otlp-http = {{ endpoint = "{endpoint}", protocol = "binary", '
        'headers = { "x-collector-key" = "sesame" } } }\n'
    )


async def _traced_turn(client: Any, thread_id: str, words: str, trace: Any) -> None:
    request_id = client.new_id()
    message: dict[str, Any] = {
        "id": request_id,
        "method": "turn/start",
        "params": {"threadId": thread_id, "input": [{"type": "text", "text": words}]},
    }
    if trace is not None:
        message["trace"] = trace
    await client.send(message)
    answer = await client.wait_for_answer(request_id, timeout=20)
    assert "result" in answer, answer
    await client.wait_for_notification("turn/completed", timeout=20)


async def test_a_traced_turn_exports_turn_model_and_tool_spans_under_the_callers_span(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path, collector: Collector
) -> None:
    home = tmp_path / "otel-home"
    write_mock_config(home, mock_model.base_url, extra=_otel_config(collector.endpoint))
    server = await launch_server(home=home, env={"OTEL_BSP_SCHEDULE_DELAY": "50"})
    client = server.client
    thread_id = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    mock_model.enqueue(function_call("exec_command", {"cmd": "echo traced"}), text("done"))
    await _traced_turn(client, thread_id, "run it", {"traceparent": TRACEPARENT})

    spans = await collector.wait_for(["turn", "model.request", "model.request", "tool.call"])
    (turn,) = [s for s in spans if s["name"] == "turn"]
    assert turn["trace_id"] == TRACE_ID
    assert turn["parent_id"] == PARENT_ID
    assert turn["attributes"]["thread_id"] == thread_id
    assert turn["attributes"]["team"] == "tools"
    assert turn["resource"]["service.name"] == "threadline"
    assert turn["resource"]["deployment.environment"] == "ci"
    children = [s for s in spans if s["name"] in ("model.request", "tool.call")]
    assert len(children) == 3
    for span in children:
        assert span["trace_id"] == TRACE_ID
        assert span["parent_id"] == turn["span_id"]
    (tool,) = [s for s in children if s["name"] == "tool.call"]
    assert tool["attributes"]["tool"] == "exec_command"
    assert {s["attributes"]["model"] for s in children if s["name"] == "model.request"} == {
        "mock-model"
    }
    assert all(h.get("x-collector-key") == "sesame" for h in collector.headers)

    # A turn without a trace context is a trace of its own.
    mock_model.enqueue(text("plain"))
    await _traced_turn(client, thread_id, "again", None)
    spans = await collector.wait_for(["turn", "turn"])
    second = [s for s in spans if s["name"] == "turn" and s["span_id"] != turn["span_id"]]
    assert second[0]["parent_id"] == ""
    assert second[0]["trace_id"] != TRACE_ID


async def test_without_otel_config_nothing_imports_opentelemetry(
    launch_server: LaunchServer, mock_model: MockModel, mock_home: Path, tmp_path: Path
) -> None:
    server = await launch_server(env={"PYTHONPROFILEIMPORTTIME": "1"})
    client = server.client
    thread_id = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    mock_model.enqueue(function_call("exec_command", {"cmd": "echo x"}), text("done"))
    await _traced_turn(client, thread_id, "run it", {"traceparent": TRACEPARENT})
    await asyncio.sleep(0.2)
    assert "import time:" in server.stderr  # the import log is on
    # The OpenTelemetry SDK and exporter stay out. (The ``mcp`` SDK imports the
    # OpenTelemetry API for its own use; that is not ours to skip.)
    assert "opentelemetry.sdk" not in server.stderr
    assert "opentelemetry.exporter" not in server.stderr
    assert "threadline.core.tracing" in server.stderr


async def test_a_traced_review_is_a_turn_span_under_the_callers_span(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path, collector: Collector
) -> None:
    home = tmp_path / "otel-home"
    write_mock_config(home, mock_model.base_url, extra=_otel_config(collector.endpoint))
    server = await launch_server(home=home, env={"OTEL_BSP_SCHEDULE_DELAY": "50"})
    client = server.client
    thread_id = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    mock_model.enqueue(text("no findings"))
    request_id = client.new_id()
    await client.send(
        {
            "id": request_id,
            "method": "review/start",
            "params": {"threadId": thread_id, "target": {"type": "custom", "instructions": "look"}},
            "trace": {"traceparent": TRACEPARENT, "tracestate": "vendor=1"},
        }
    )
    answer = await client.wait_for_answer(request_id, timeout=20)
    assert "result" in answer, answer
    await client.wait_for_notification("turn/completed", timeout=20)
    spans = await collector.wait_for(["turn", "turn", "model.request"])
    by_id = {s["span_id"]: s for s in spans}
    (outer,) = [s for s in spans if s["name"] == "turn" and s["parent_id"] == PARENT_ID]
    (request,) = [s for s in spans if s["name"] == "model.request"]
    assert request["trace_id"] == TRACE_ID
    # The reviewer's own turn runs inside the review turn; its model request inside it.
    reviewer = by_id[request["parent_id"]]
    assert reviewer["name"] == "turn"
    assert reviewer["parent_id"] == outer["span_id"]
