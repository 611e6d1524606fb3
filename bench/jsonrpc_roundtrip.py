"""JSON-RPC round trip through the real app-server, over stdio and over a websocket.

    .venv/bin/python bench/jsonrpc_roundtrip.py [--requests 2000] [--window 32] [--method thread/loaded/list]

For each transport a ``python -m threadline app-server`` subprocess is started in a
temporary THREADLINE_HOME (a mock provider on a closed loopback port, so no model is
ever loaded), initialized, warmed up, then measured twice with a trivial request:

* sequential: one request in flight; per-request latency p50/p99/max and the
  requests/second that gives;
* pipelined: ``--window`` requests in flight; requests/second.

Every run is bounded by ``--requests`` (and a 60 s timeout per phase); loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

OFFLINE_CONFIG = """\
model_provider = "mock"
model = "mock-model"

[model_providers.mock]
name = "Unreachable mock"
base_url = "http://127.0.0.1:9/v1"
wire_api = "responses"
request_max_retries = 0
"""
PHASE_TIMEOUT = 60.0
LISTENING = re.compile(r"listening on: (ws://\S+)")


class Client:
    """Matches answers to requests by id over any text transport."""

    def __init__(self, send: Callable[[str], Awaitable[None]]) -> None:
        self._send = send
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = iter(range(1, 1 << 62))

    def on_text(self, text: str) -> None:
        message = json.loads(text)
        future = self._pending.pop(message.get("id"), None) if "method" not in message else None
        if future is not None and not future.done():
            future.set_result(message)

    def close(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("server closed the connection"))

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self._send(json.dumps({"id": request_id, "method": method, "params": params}))
        answer = await future
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        return answer


@dataclass
class Figures:
    transport: str
    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    sequential_rps: float
    window: int
    pipelined_rps: float

    def row(self) -> str:
        return (
            f"{self.transport:<10} {self.requests:>8} {self.p50_ms:>8.3f} {self.p99_ms:>8.3f} "
            f"{self.max_ms:>8.3f} {self.sequential_rps:>10.0f} {self.pipelined_rps:>12.0f}"
        )


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def measure(client: Client, transport: str, method: str, n: int, window: int) -> Figures:
    for _ in range(min(200, n)):  # warm-up
        await client.call(method, {})

    latencies: list[float] = []

    async def sequential() -> float:
        began = time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter()
            await client.call(method, {})
            latencies.append(time.perf_counter() - t0)
        return time.perf_counter() - began

    seq_s = await asyncio.wait_for(sequential(), PHASE_TIMEOUT)

    async def pipelined() -> float:
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await client.call(method, {})

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(window)))
        return time.perf_counter() - began

    pipe_s = await asyncio.wait_for(pipelined(), PHASE_TIMEOUT)
    ordered = sorted(latencies)
    return Figures(
        transport=transport,
        requests=n,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        max_ms=ordered[-1] * 1000,
        sequential_rps=n / seq_s,
        window=window,
        pipelined_rps=n / pipe_s,
    )


def server_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["THREADLINE_HOME"] = str(home)
    env.setdefault("THREADLINE_LOG", "WARNING")
    return env


@contextlib.asynccontextmanager
async def spawn(home: Path, listen: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "threadline",
        "app-server",
        "--listen",
        listen,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(home),
        limit=16 << 20,
    )
    try:
        yield proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def initialize(client: Client) -> None:
    await client.call("initialize", {"clientInfo": {"name": "bench", "version": "0"}})


async def bench_stdio(home: Path, method: str, n: int, window: int) -> Figures:
    async with spawn(home, "stdio://") as proc:
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout

        async def send(text: str) -> None:
            stdin.write(text.encode() + b"\n")
            await stdin.drain()

        client = Client(send)

        async def pump() -> None:
            while line := await stdout.readline():
                client.on_text(line.decode())
            client.close()

        reader = asyncio.ensure_future(pump())
        try:
            await initialize(client)
            return await measure(client, "stdio", method, n, window)
        finally:
            reader.cancel()


async def bench_ws(home: Path, method: str, n: int, window: int) -> Figures:
    async with spawn(home, "ws://127.0.0.1:0") as proc:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = await asyncio.wait_for(proc.stderr.readline(), 20)
            if not line:
                break
            found = LISTENING.search(line.decode())
            url = found.group(1) if found else None
        if url is None:
            raise RuntimeError("the websocket server did not report its URL")
        async with connect(url, max_size=None) as ws:
            client = Client(ws.send)

            async def pump() -> None:
                with contextlib.suppress(Exception):
                    async for frame in ws:
                        client.on_text(frame if isinstance(frame, str) else frame.decode())
                client.close()

            reader = asyncio.ensure_future(pump())
            try:
                await initialize(client)
                return await measure(client, "websocket", method, n, window)
            finally:
                reader.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per phase (max 100000)"
    )
    parser.add_argument("--window", type=int, default=32, help="requests in flight when pipelined")
    parser.add_argument("--method", default="thread/loaded/list")
    args = parser.parse_args()
    n = max(1, min(args.requests, 100_000))
    window = max(1, min(args.window, 256))
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        home = Path(tmp)
        (home / "config.toml").write_text(OFFLINE_CONFIG, encoding="utf-8")
        results = [
            await bench_stdio(home, args.method, n, window),
            await bench_ws(home, args.method, n, window),
        ]
    print(f"method: {args.method}; sequential = 1 in flight, pipelined = {window} in flight")
    print(
        f"{'transport':<10} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'seq req/s':>10} {'piped req/s':>12}"
    )
    for figures in results:
        print(figures.row())


if __name__ == "__main__":
    asyncio.run(main())
