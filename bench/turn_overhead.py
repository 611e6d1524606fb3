"""Benchmark what threadline adds to every streamed delta.

The mock model (``tests/support/mock_model.py``, in a child process of its own) streams N text
deltas per turn as fast as it can, one socket write per delta, and stamps the
moment each delta's bytes were handed to the kernel. ``threadline app-server``
runs as a subprocess on stdio; this script reads its stdout with a lean reader
and stamps each ``item/agentMessage/delta`` line on arrival. Both stamps use the
system-wide monotonic clock.

Reported per scenario:

* added latency per delta (model byte out → client notification in): p50 / p99 / max;
* end-to-end deltas per second (first ``turn/start`` → last ``turn/completed``);
* lost or reordered deltas (must be 0): each turn's deltas must be exactly the
  mock's deltas, in order;
* the mock's own writing rate, the server's CPU per delta and the cores each process
  used.

Reading the full-speed figures: latency there is queueing. Whenever the mock writes
faster than the server relays (the mock only hands pre-encoded bytes to the kernel;
the server parses each event, runs the turn loop and encodes a notification), deltas
wait in the socket buffers and their latency grows with the turn. The paced runs and
the sweep show the added latency while the server keeps up.

Scenarios: 1 thread and 50 concurrent threads at full speed, plus 1 thread paced
(a delta every ``--pace-ms``) to show the unsaturated per-delta cost. Then a sweep
of paced runs at rising rates (1 thread, then ``--threads`` threads) and, for each,
the fastest steady rate whose p50 stays under the 0.5 ms target (``--no-sweep``
skips it). ``--pin`` gives the server a CPU of its own and puts the mock and this
client on the others, as if the model ran on another machine; without it all three
compete for every CPU.

Run from the repository root: ``.venv/bin/python bench/turn_overhead.py [--deltas N]``.
Every loop is bounded (``--deltas``, ``--threads``, a timeout per scenario).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pydantic_core import from_json  # noqa: E402
from tests.support import mock_model as mm  # noqa: E402

SCENARIO_TIMEOUT_S = 120.0
PIN: dict[str, set[int]] = {}
"""With ``--pin``: the CPUs of the server and of the model side (the mock and this client)."""
TARGET_P50_MS = 0.5
SWEEP_1 = (1.0, 0.5, 0.2, 0.1, 0.05)
"""Gaps between deltas (ms) of the one-thread sweep."""
SWEEP_N = (20.0, 10.0, 5.0, 2.0, 1.0)
"""Gaps between deltas (ms) per thread of the many-thread sweep."""
_TICKS = os.sysconf("SC_CLK_TCK")


def _pin_to(cpus: set[int] | None) -> Any:
    """A ``preexec_fn`` restricting the child (and all its threads) to ``cpus``."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


# ---- the mock model, stamping every delta it writes ------------------------------------


class _Stamps:
    """delta text → monotonic ns when the mock finished writing it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.out: dict[str, int] = {}


STAMPS = _Stamps()
_DELTA_MARK = b'"type":"response.output_text.delta"'


class _StampingHandler(mm._Handler):
    def _chunk(self, data: bytes) -> None:
        super()._chunk(data)
        if _DELTA_MARK in data:
            now = time.monotonic_ns()
            payload = json.loads(data.split(b"data: ", 1)[1])
            with STAMPS.lock:
                STAMPS.out[payload["delta"]] = now


def start_mock(n_deltas: int, pace_s: float) -> mm.MockModel:
    # socketserver's default listen backlog (5) resets some of 50 simultaneous connects.
    mm._Server.request_queue_size = 512
    mock = mm.MockModel().start()
    assert mock._server is not None
    mock._server.RequestHandlerClass = _StampingHandler

    def answer(request: mm.RecordedRequest) -> mm.Script:
        tag = request.body["prompt_cache_key"]
        script = mm.text(expected_text(tag, n_deltas), delay_s=pace_s)
        # A cut far beyond the end makes the mock write (and stamp) one delta at a time.
        return mm.Script(
            outputs=script.outputs, delay_s=pace_s, cut_after_deltas=n_deltas + 1_000_000
        )

    mock.set_default(answer)
    return mock


def serve_mock(n_deltas: int, pace_s: float) -> None:
    """Child-process mode: run the stamping mock until stdin closes, then print the stamps.

    The mock runs in its own process so that it does not share an interpreter lock with
    the reader whose arrival times are measured (in one process the reader lags behind
    the mock's writer threads, and that lag would be counted as server latency).
    """
    mock = start_mock(n_deltas, pace_s)
    print(mock.base_url, flush=True)
    sys.stdin.read()  # the parent closes our stdin when the scenario is over
    with STAMPS.lock:
        stamps = dict(STAMPS.out)
    mock.stop()
    sys.stdout.write(json.dumps(stamps) + "\n")
    sys.stdout.flush()


class MockProcess:
    """The mock model in a child process (see :func:`serve_mock`)."""

    def __init__(self, proc: asyncio.subprocess.Process, base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url

    @classmethod
    async def start(cls, n_deltas: int, pace_s: float) -> MockProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve-mock", str(n_deltas), str(pace_s),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=256 * 1024 * 1024,
            preexec_fn=_pin_to(PIN.get("model")),
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        return cls(proc, line.decode().strip())

    async def stop(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        await self.proc.wait()
        stamps: dict[str, int] = json.loads(line) if line.strip() else {}
        return stamps


def expected_text(thread_id: str, n: int) -> str:
    return " ".join(f"{thread_id}:{i}" for i in range(n))


# ---- a lean stdio client -----------------------------------------------------------------


@dataclass
class _Turn:
    thread_id: str
    deltas: list[tuple[str, int]] = field(default_factory=list)
    completed: bool = False
    status: str | None = None
    error: str | None = None


class Client:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 1
        self.waiters: dict[int, asyncio.Future[Any]] = {}
        self.turns: dict[str, _Turn] = {}
        self.all_done = asyncio.Event()
        self.expect_turns = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        """Read whatever has arrived, stamp it once, then parse its lines.

        Every line of one read arrived together, so they share the stamp; parsing with
        pydantic-core keeps this reader's CPU (which competes with the server and the
        mock for the same cores) small.
        """
        stdout = self.proc.stdout
        assert stdout is not None
        rest = b""
        while chunk := await stdout.read(1 << 20):
            now = time.monotonic_ns()
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                self._handle(from_json(line), now)

    def _handle(self, msg: dict[str, Any], now: int) -> None:
        method = msg.get("method")
        if method == "item/agentMessage/delta":
            p = msg["params"]
            turn = self.turns.get(p["turnId"])
            if turn is None:
                turn = self.turns[p["turnId"]] = _Turn(p["threadId"])
            turn.deltas.append((p["delta"], now))
        elif method == "turn/completed":
            t = msg["params"]["turn"]
            turn = self.turns.setdefault(t["id"], _Turn(msg["params"]["threadId"]))
            turn.completed = True
            turn.status = t["status"]
            if t.get("error"):
                turn.error = t["error"].get("message")
            if sum(x.completed for x in self.turns.values()) >= self.expect_turns:
                self.all_done.set()
        elif method is None and "id" in msg:
            fut = self.waiters.pop(msg["id"], None)
            if fut is not None:
                fut.set_result(msg)

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        rid = self.next_id
        self.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters[rid] = fut
        await self.send({"id": rid, "method": method, "params": params})
        answer = await asyncio.wait_for(fut, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()


async def spawn(home: Path) -> Client:
    env = dict(os.environ, THREADLINE_HOME=str(home), THREADLINE_LOG="WARNING")
    profile = os.environ.get("TURN_OVERHEAD_PROFILE")
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *prefix,
        "-m",
        "threadline",
        "app-server",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=None if os.environ.get("TURN_OVERHEAD_STDERR") else asyncio.subprocess.DEVNULL,
        env=env,
        cwd=str(home),
        limit=64 * 1024 * 1024,
        preexec_fn=_pin_to(PIN.get("server")),
    )
    client = Client(proc)
    await client.request("initialize", {"clientInfo": {"name": "bench", "version": "0"}})
    await client.send({"method": "initialized"})
    return client


# ---- scenarios -------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    threads: int
    deltas: int
    latencies_us: list[float]
    seconds: float
    lost: int
    reordered: int
    server_cpu_s: float
    mock_rate: float
    cpu_share: dict[str, float]
    """Cores used during the measured turns by the server, the mock and this client."""
    """Deltas per second the mock wrote (first to last stamp of each turn, summed)."""

    def _pct_ms(self, p: float) -> float:
        lat = sorted(self.latencies_us)
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1000 if lat else float("nan")

    def p50_ms(self) -> float:
        return self._pct_ms(0.50)

    def p99_ms(self) -> float:
        return self._pct_ms(0.99)

    def line(self) -> str:
        lat = sorted(self.latencies_us)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

        rate = self.deltas / self.seconds if self.seconds else 0.0
        return (
            f"{self.name:<18} threads={self.threads:<3} deltas={self.deltas:<7} "
            f"p50={pct(0.50) / 1000:7.3f} ms  p99={pct(0.99) / 1000:7.3f} ms  "
            f"max={lat[-1] / 1000 if lat else float('nan'):7.3f} ms  "
            f"mean={statistics.fmean(lat) / 1000 if lat else float('nan'):7.3f} ms  "
            f"{rate:7.0f} deltas/s (mock wrote {self.mock_rate:7.0f}/s)  server cpu/delta={self.server_cpu_s / max(self.deltas, 1) * 1e6:5.1f} us  "
            f"lost={self.lost} reordered={self.reordered}  cores used: "
            + " ".join(f"{k}={v:.2f}" for k, v in self.cpu_share.items())
        )


async def scenario(name: str, home: Path, n_threads: int, n_deltas: int, pace_s: float) -> Result:
    mock = await MockProcess.start(n_deltas, pace_s)
    (home / "config.toml").write_text(
        'model_provider = "mock"\nmodel = "mock-model"\n'
        "[model_providers.mock]\n"
        f'base_url = "{mock.base_url}"\nwire_api = "responses"\nrequest_max_retries = 0\n',
        encoding="utf-8",
    )
    client = await spawn(home)
    try:
        threads = [
            (await client.request("thread/start", {}))["thread"]["id"] for _ in range(n_threads)
        ]
        # Warm-up turn on the first thread (imports, connection pool) is not measured.
        client.expect_turns = 1
        warm = await client.request(
            "turn/start", {"threadId": threads[0], "input": [{"type": "text", "text": "warm"}]}
        )
        await asyncio.wait_for(client.all_done.wait(), SCENARIO_TIMEOUT_S)
        client.turns.pop(warm["turn"]["id"], None)
        client.all_done.clear()

        client.expect_turns = n_threads
        cpu_before = cpu_seconds(client.proc.pid)
        mock_before = cpu_seconds(mock.proc.pid)
        self_before = time.process_time()
        began = time.monotonic_ns()
        await asyncio.gather(
            *(
                client.request(
                    "turn/start", {"threadId": t, "input": [{"type": "text", "text": "go"}]}
                )
                for t in threads
            )
        )
        await asyncio.wait_for(client.all_done.wait(), SCENARIO_TIMEOUT_S)
        seconds = (time.monotonic_ns() - began) / 1e9
        server_cpu = cpu_seconds(client.proc.pid) - cpu_before
        share = {
            "server": server_cpu / seconds,
            "mock": (cpu_seconds(mock.proc.pid) - mock_before) / seconds,
            "client": (time.process_time() - self_before) / seconds,
        }
    finally:
        if client.proc.stdin is not None:
            client.proc.stdin.close()
        try:
            await asyncio.wait_for(client.proc.wait(), 10)
        except TimeoutError:
            client.proc.kill()
        client.reader.cancel()
        stamps = await mock.stop()

    failed = [t for t in client.turns.values() if t.status != "completed"]
    if failed:
        print(f"  {len(failed)} turns did not complete, e.g. {failed[0].status}: {failed[0].error}")
    latencies: list[float] = []
    lost = reordered = total = 0
    first_out = min(stamps.values(), default=0)
    last_out = max(stamps.values(), default=0)
    mock_rate = len(stamps) / ((last_out - first_out) / 1e9) if last_out > first_out else 0.0
    for turn in client.turns.values():
        want = [f"{p} " for p in expected_text(turn.thread_id, n_deltas).split(" ")]
        want[-1] = want[-1].rstrip()
        got = [d for d, _ in turn.deltas]
        total += len(got)
        if got != want:
            missing = len(set(want) - set(got))
            lost += missing
            if missing == 0:
                reordered += sum(1 for a, b in zip(got, want, strict=False) if a != b)
        for delta, arrived in turn.deltas:
            sent = stamps.get(delta)
            if sent is not None:
                latencies.append((arrived - sent) / 1000)
    if len(client.turns) != n_threads:
        lost += (n_threads - len(client.turns)) * n_deltas
    return Result(
        name, n_threads, total, latencies, seconds, lost, reordered, server_cpu, mock_rate, share
    )


async def main_async(args: argparse.Namespace) -> int:
    results: list[Result] = []
    plan = [
        ("1 thread, paced", 1, args.deltas, args.pace_ms / 1000),
        ("1 thread, full", 1, args.deltas, 0.0),
        (f"{args.threads} threads, full", args.threads, args.deltas, 0.0),
    ]
    if args.sweep:
        # Paced runs at rising rates: the fastest steady stream the server follows with
        # the added latency still under the target.
        plan += [(f"1 thread, {g:g} ms", 1, args.sweep_deltas, g / 1000) for g in SWEEP_1]
        plan += [
            (f"{args.threads} threads, {g:g} ms", args.threads, args.sweep_deltas, g / 1000)
            for g in SWEEP_N
        ]
    for name, n_threads, n_deltas, pace in plan:
        with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
            result = await scenario(name, Path(tmp), n_threads, n_deltas, pace)
        print(result.line(), flush=True)
        results.append(result)
    if args.sweep:
        for n_threads in (1, args.threads):
            ok = [
                r for r in results
                if r.threads == n_threads and r.p50_ms() < TARGET_P50_MS and r.mock_rate > 0
            ]
            best = max(ok, key=lambda r: r.mock_rate, default=None)
            if best is None:
                print(f"{n_threads} thread(s): no paced rate kept p50 under {TARGET_P50_MS} ms")
            else:
                print(
                    f"{n_threads} thread(s): p50 stays under {TARGET_P50_MS} ms up to "
                    f"{best.mock_rate:,.0f} deltas/s in total ({best.name}, "
                    f"p50 {best.p50_ms():.3f} ms, p99 {best.p99_ms():.3f} ms)"
                )
    bad = [r for r in results if r.lost or r.reordered]
    return 1 if bad else 0


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-mock":
        serve_mock(int(sys.argv[2]), float(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deltas", type=int, default=2000, help="deltas per turn (default 2000)")
    parser.add_argument("--threads", type=int, default=50, help="concurrent threads (default 50)")
    parser.add_argument(
        "--pace-ms", type=float, default=2.0, help="gap between deltas when paced (default 2)"
    )
    parser.add_argument(
        "--no-sweep", dest="sweep", action="store_false",
        help="skip the paced runs at rising rates",
    )
    parser.add_argument(
        "--sweep-deltas", type=int, default=500, help="deltas per turn in the sweep (default 500)"
    )
    parser.add_argument(
        "--pin", action="store_true",
        help="give the server a CPU of its own; the mock and this client share the others "
        "(as if the model ran on another machine)",
    )
    args = parser.parse_args()
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs at least two CPUs")
        PIN["server"] = {cpus[-1]}
        PIN["model"] = set(cpus[:-1])
        os.sched_setaffinity(0, PIN["model"])
    if args.deltas < 1 or args.threads < 1 or args.sweep_deltas < 1:
        parser.error("--deltas, --threads and --sweep-deltas must be positive")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
