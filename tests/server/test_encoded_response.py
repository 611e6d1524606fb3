"""A response serialized when it is queued (``jsonrpc.encode_response_line``: the result
model straight to JSON bytes) is byte for byte what the dumped result gave before
(``dumps_line`` of ``{"id", "result": model_dump(by_alias, mode="json")}``), on the
``thread/read`` answer of real rollouts; a result that cannot be encoded so (a lone
surrogate) goes the old way and is cleaned; the stdio channel writes it as one line."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from bench.persistence import rollout_text

from threadline.protocol.jsonrpc import (
    Encoded,
    dumps,
    dumps_line,
    encode_response,
    encode_response_line,
)
from threadline.protocol.v2.thread import (
    Thread,
    ThreadReadResponse,
)
from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout
from threadline.server.transports.memory import MemoryServerChannel
from threadline.server.transports.stdio import StdioChannel

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")
THREAD = "019f0000-0000-7000-8000-0000000000c3"


def _response(path: Path, preview: str = "p") -> ThreadReadResponse:
    turns = reconstruct(read_rollout(path)).turns
    thread = Thread.model_validate({
        "id": THREAD, "preview": preview, "ephemeral": False, "modelProvider": "mock",
        "createdAt": 1, "updatedAt": 2, "status": {"type": "notLoaded"}, "path": str(path),
        "cwd": "/w", "cliVersion": "0.1.0", "source": "vscode", "turns": [], "sessionId": THREAD,
    })
    return ThreadReadResponse(thread=thread.model_copy(update={"turns": turns}))


def _old_line(request_id: int, result: ThreadReadResponse) -> bytes:
    return dumps_line(encode_response(request_id, result.model_dump(by_alias=True, mode="json")))


def _rollouts(tmp: Path) -> list[Path]:
    generated = tmp / f"rollout-2027-06-01T00-00-00-{THREAD}.jsonl"
    generated.write_text(rollout_text(THREAD, datetime(2027, 6, 1, tzinfo=UTC), turns=200,
                                      reply_chars=900, text="Big thread \u00e9\U0001f600",
                                      cwd="/w"), encoding="utf-8")
    found = sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []
    return [*found, generated]


def test_encoded_answers_are_the_dumped_answers_byte_for_byte(tmp_path: Path) -> None:
    for number, path in enumerate(_rollouts(tmp_path)):
        result = _response(path)
        encoded = encode_response_line(number, result)
        assert isinstance(encoded, Encoded)
        assert dumps_line(encoded) == _old_line(number, result), path.name
        assert dumps(encoded) == _old_line(number, result)[:-1].decode(), path.name
        assert encoded.decoded() == json.loads(_old_line(number, result))
    assert len(result.thread.turns) == 200


def test_a_result_with_a_lone_surrogate_goes_the_old_way(tmp_path: Path) -> None:
    result = _response(_rollouts(tmp_path)[-1], preview="lone \ud800 surrogate")
    assert encode_response_line(7, result) is None
    line = _old_line(7, result)  # what the connection sends instead: cleaned, not lost
    assert json.loads(line)["result"]["thread"]["preview"] == "lone \ufffd surrogate"


def test_stdio_writes_an_encoded_answer_as_one_line(tmp_path: Path) -> None:
    result = _response(_rollouts(tmp_path)[-1])
    encoded = encode_response_line(3, result)
    assert encoded is not None

    async def run() -> bytes:
        read_fd, write_fd = os.pipe()
        out = tmp_path / "out.bin"
        with open(out, "wb") as sink:  # a regular file: written from a worker thread
            channel = StdioChannel(read_fd, sink.fileno())
            await channel.send_many([{"id": 1, "result": {}}, encoded])
            await channel.send(encoded)
        os.close(read_fd)
        os.close(write_fd)
        return out.read_bytes()

    data = asyncio.run(run())
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4
    assert lines[1] + b"\n" == lines[2] + b"\n" == _old_line(3, result)


def test_the_memory_transport_hands_plain_json_over() -> None:
    async def run() -> object:
        to_server: asyncio.Queue[object] = asyncio.Queue()
        to_client: asyncio.Queue[object] = asyncio.Queue()
        channel = MemoryServerChannel(to_server, to_client)
        encoded = encode_response_line(5, ThreadReadResponse.model_validate(
            {"thread": json.loads(_THREAD_JSON)}))
        assert encoded is not None
        await channel.send(encoded)
        return to_client.get_nowait()

    got = asyncio.run(run())
    assert type(got) is dict and got["id"] == 5 and isinstance(got["result"]["thread"], dict)


_THREAD_JSON = json.dumps({
    "id": THREAD, "preview": "p", "ephemeral": False, "modelProvider": "mock", "createdAt": 1,
    "updatedAt": 2, "status": {"type": "notLoaded"}, "path": None, "cwd": "/w",
    "cliVersion": "0.1.0", "source": "vscode", "turns": [], "sessionId": THREAD,
})
