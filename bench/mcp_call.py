"""Per-call overhead of an MCP tool call: client → server → result, over stdio and
streamable HTTP on 127.0.0.1.

    .venv/bin/python bench/mcp_call.py [--calls 500] [--warmup 50] [--payload 64]

The client is the ``mcp`` SDK's ``ClientSession`` (what ``threadline.mcp`` uses to reach
configured servers); the server is ``bench/mcp_echo_server.py``, a one-tool ``echo``
server written with the SDK's ``MCPServer``, started as a subprocess. For each transport
the session is initialized, warmed up, then ``--calls`` sequential ``tools/call`` of
``echo`` are timed one by one (one call in flight, a ``--payload``-character string);
the script prints the median, p90, p99 and max per call and the calls/second of the
median. Every phase is bounded by ``--calls`` and a 60 s timeout; loopback only.

A third line measures the other direction, ``threadline mcp-server`` as the server:
``--turns`` sequential ``codex-reply`` calls on one thread, each a whole turn against the
mock model (``tests/support/mock_model.py``, in this process, answering a short text), so
the figure is a turn's cost as an MCP host sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from mcp.client.streamable_http import streamable_http_client

from mcp import ClientSession, StdioServerParameters, stdio_client

ECHO = Path(__file__).with_name("mcp_echo_server.py")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.mock_model import MockModel, text  # noqa: E402

PHASE_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _stdio_session() -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=[str(ECHO), "stdio"], env=dict(os.environ)
    )
    async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def _http_session() -> AsyncIterator[ClientSession]:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ECHO),
        "http",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 20
        while True:  # wait until it listens
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the echo server did not start listening") from None
                await asyncio.sleep(0.05)
        async with streamable_http_client(url) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            yield session
    finally:
        proc.terminate()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(proc.wait(), 10)


MOCK_CONFIG = """\
model_provider = "mock"
model = "mock-model"
approval_policy = "never"
[model_providers.mock]
name = "Mock"
base_url = "{base_url}"
wire_api = "responses"
request_max_retries = 0
"""


async def _threadline_turns(turns: int) -> list[float]:
    with MockModel() as mock, tempfile.TemporaryDirectory() as tmp:
        mock.set_default(text("ok"))
        home = Path(tmp)
        (home / "config.toml").write_text(MOCK_CONFIG.format(base_url=mock.base_url))
        env = dict(os.environ, THREADLINE_HOME=str(home))
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "threadline", "mcp-server"], env=env, cwd=tmp
        )
        async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            first = await session.call_tool("codex", {"prompt": "hi", "cwd": tmp})
            assert first.structured_content is not None, first
            thread_id = first.structured_content["threadId"]
            times: list[float] = []
            for _ in range(turns):
                t0 = time.perf_counter()
                result = await session.call_tool(
                    "codex-reply", {"threadId": thread_id, "prompt": "again"}
                )
                times.append(time.perf_counter() - t0)
                assert not result.is_error, result
            return times


async def _measure(session: ClientSession, calls: int, warmup: int, payload: str) -> list[float]:
    for _ in range(warmup):
        await session.call_tool("echo", {"text": payload})
    times: list[float] = []
    for _ in range(calls):
        t0 = time.perf_counter()
        result = await session.call_tool("echo", {"text": payload})
        times.append(time.perf_counter() - t0)
        assert not result.is_error
    return times


def _report(name: str, times: list[float]) -> None:
    times = sorted(times)
    med = statistics.median(times)

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(p * len(times)))]

    print(
        f"{name:<6} calls={len(times):<5} median={med * 1e3:7.3f} ms  p90={pct(0.9) * 1e3:7.3f} ms  "
        f"p99={pct(0.99) * 1e3:7.3f} ms  max={times[-1] * 1e3:7.3f} ms  ({1 / med:,.0f} calls/s)"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--turns", type=int, default=50, help="codex-reply calls (0: skip)")
    args = ap.parse_args()
    payload = "x" * args.payload
    print(
        f"mcp tools/call echo, {args.payload}-char payload, one call in flight, {os.cpu_count()} CPUs"
    )
    for name, opener in (("stdio", _stdio_session), ("http", _http_session)):
        async with opener() as session:
            times = await asyncio.wait_for(
                _measure(session, args.calls, args.warmup, payload), PHASE_TIMEOUT
            )
        _report(name, times)
    if args.turns > 0:
        times = await asyncio.wait_for(_threadline_turns(args.turns), PHASE_TIMEOUT)
        _report("turn", times)
        print("(turn: threadline mcp-server codex-reply, one turn against the mock model)")


if __name__ == "__main__":
    asyncio.run(main())
