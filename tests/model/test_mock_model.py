"""The mock model server itself: routes, recording, defaults, standalone mode, throughput."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from tests.support.mock_model import MockModel, RecordedRequest, Script, text

from threadline.model.base import ModelRequest, OutputTextDelta, ResponseCompleted
from threadline.model.responses import ResponsesClient
from threadline.protocol.items import user_text_message

MOCK_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "mock_model.py"


def _post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _sse_data(raw: str) -> list[str]:
    return [line[len("data: ") :] for line in raw.splitlines() if line.startswith("data: ")]


def test_responses_event_sequence_matches_codex(mock_model: MockModel) -> None:
    mock_model.enqueue(text("a b", reasoning="hmm"))
    status, raw = _post(mock_model.base_url + "/responses", {"model": "m", "stream": True})
    assert status == 200
    types = [json.loads(d)["type"] for d in _sse_data(raw)]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    events = [json.loads(d) for d in _sse_data(raw)]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["response"]["usage"]["total_tokens"] == 120


def test_chat_without_include_usage_has_no_usage_chunk(mock_model: MockModel) -> None:
    mock_model.set_default(text("hello"))
    status, raw = _post(mock_model.base_url + "/chat/completions", {"model": "m", "stream": True})
    assert status == 200
    data = _sse_data(raw)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "hello"


def test_recording_defaults_and_empty_queue(mock_model: MockModel) -> None:
    status, raw = _post(mock_model.base_url + "/responses", {"model": "m", "n": 1})
    assert status == 400 and "no script queued" in raw

    def echo(rec: RecordedRequest) -> Script:
        return text(f"you sent {rec.body['n']}")

    mock_model.set_default(echo)
    status, raw = _post(mock_model.base_url + "/responses", {"model": "m", "n": 2})
    assert status == 200 and "you sent 2" in raw
    recs = mock_model.wait_for_requests(2, timeout=1)
    assert [r.body["n"] for r in recs] == [1, 2]
    assert recs[0].path == "/v1/responses" and recs[0].headers["content-type"] == "application/json"
    with pytest.raises(TimeoutError):
        mock_model.wait_for_requests(3, timeout=0.05)


def test_models_route(mock_model: MockModel) -> None:
    with urllib.request.urlopen(mock_model.base_url + "/models", timeout=5) as resp:
        body = json.loads(resp.read())
    assert [m["id"] for m in body["data"]] == ["mock-model"]


def test_standalone_server_serves_the_default_text() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(MOCK_SCRIPT), "--port", "0", "--text", "bench reply", "--chunks", "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line
        base_url = line.rsplit(" ", 1)[-1].strip()
        status, raw = _post(base_url + "/responses", {"model": "m"})
        assert status == 200
        deltas = [
            e["delta"]
            for e in map(json.loads, _sse_data(raw))
            if e["type"] == "response.output_text.delta"
        ]
        assert deltas == ["ben", "ch ", "rep", "ly"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_thousands_of_deltas_stream_quickly(mock_model: MockModel) -> None:
    message = "x" * 5000
    mock_model.enqueue(text(message, chunks=5000))
    client = ResponsesClient(provider_id="mock", base_url=mock_model.base_url, api_key="k")
    request = ModelRequest(model="mock-model", input=[user_text_message("go")])
    started = time.monotonic()
    try:
        async with asyncio.timeout(10), aclosing(client.stream(request)) as stream:
            events = [e async for e in stream]
    finally:
        await client.aclose()
    elapsed = time.monotonic() - started
    assert sum(isinstance(e, OutputTextDelta) for e in events) == 5000
    assert isinstance(events[-1], ResponseCompleted)
    assert elapsed < 5, f"5000 deltas took {elapsed:.2f}s"
