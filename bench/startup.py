"""Start-up and first-turn figures of an app-server command (threadline's or Codex's).

    .venv/bin/python bench/startup.py [--runs 7] [--server "CMD"] [--no-bytecode]

Every run starts a fresh server process on stdio in a fresh home (``THREADLINE_HOME`` and
``CODEX_HOME`` both point at it; its ``config.toml`` selects the mock model,
``tests/support/mock_model.py``, over real HTTP on 127.0.0.1) and measures, from the moment
before the process is spawned:

* ``initialize``: spawn -> the ``initialize`` response read;
* ``first_list``: spawn -> the first ``thread/list`` response (``initialize`` and
  ``initialized`` sent first, as every client does);
* ``first_resume``: spawn -> the response to a ``thread/resume`` of a one-turn thread
  written before the run (the start-up share of a resume);
* ``initialize_cpu``, ``first_list_cpu``, ``first_resume_cpu``: the CPU time the server
  process (every thread) had used when that answer arrived, read from ``/proc``: on a
  machine other processes load, a steadier figure than the wall time;
* ``first_turn``: in a fresh process after ``thread/start``, ``turn/start`` -> the
  ``turn/started`` notification, and ``turn/start`` -> ``turn/completed`` (``first_turn_done``);
* ``warm_turn``: the same for a second turn of that process.

``--no-bytecode`` runs threadline without cached bytecode for its own modules (a copy of
``src/`` without ``__pycache__`` first on ``PYTHONPATH``, ``PYTHONDONTWRITEBYTECODE=1``), so
each of them compiles at every start.
``bench/compare_codex.py`` uses these measurements side by side with real Codex.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.persistence import write_rollout  # noqa: E402
from tests.support import mock_model as mm  # noqa: E402
from tests.support.codex_ref import CODEX_CONFIG as CONFIG  # noqa: E402

THREADLINE = (str(REPO_ROOT / ".venv" / "bin" / "threadline"), "app-server")
CALL_TIMEOUT_S = 120.0



def write_home(home: Path, base_url: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(CONFIG.format(base_url=base_url), encoding="utf-8")
    return home


def server_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, THREADLINE_HOME=str(home), CODEX_HOME=str(home), RUST_LOG="error",
               MOCK_OPENAI_API_KEY="bench-key")
    env.pop("PYTHONPATH", None)
    return {**env, **(extra or {})}


class Client:
    """A lean JSON-lines client of one app-server process: stamps every message on arrival,
    declines server requests, keeps notifications in a queue."""

    def __init__(self, proc: asyncio.subprocess.Process, spawned_at: float) -> None:
        self.proc = proc
        self.spawned_at = spawned_at
        self.pending: dict[int, asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self.notes: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.next_id = 1
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def spawn(cls, command: Sequence[str], env: Mapping[str, str], cwd: Path) -> Client:
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=dict(env), cwd=str(cwd), limit=1 << 30,
        )
        return cls(proc, t0)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                break
            now = time.perf_counter()
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if "id" in msg and ("result" in msg or "error" in msg):
                fut = self.pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result((now, msg))
            elif "id" in msg and "method" in msg:
                await self._send({"id": msg["id"], "error": {"code": -32601, "message": "bench"}})
            elif "method" in msg:
                self.notes.put_nowait((now, msg))
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("server exited"))

    async def _send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        await self.proc.stdin.drain()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self._send({"method": method, **({"params": params} if params is not None else {})})

    async def send_request(self, method: str, params: dict[str, Any]) -> asyncio.Future[Any]:
        request_id = self.next_id
        self.next_id += 1
        fut: asyncio.Future[tuple[float, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.pending[request_id] = fut
        await self._send({"id": request_id, "method": method, "params": params})
        return fut

    async def request(self, method: str, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """(arrival time, result) of ``method``; raises on an error answer."""
        fut = await self.send_request(method, params)
        at, msg = await asyncio.wait_for(fut, CALL_TIMEOUT_S)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return at, msg["result"]

    async def initialize(self) -> float:
        at, _ = await self.request("initialize", {
            "clientInfo": {"name": "bench", "title": None, "version": "0.0.1"},
            "capabilities": {"experimentalApi": True},
        })
        await self.notify("initialized")
        return at

    def drain(self) -> None:
        while not self.notes.empty():
            self.notes.get_nowait()

    async def wait_note(self, method: str, timeout: float = CALL_TIMEOUT_S) -> tuple[float, Any]:
        async with asyncio.timeout(timeout):
            while True:
                at, msg = await self.notes.get()
                if msg.get("method") == method:
                    return at, msg.get("params")

    def cpu_ms(self) -> float | None:
        """CPU time the server process has used so far, every thread (``schedstat``), in ms:
        unlike wall time, hardly changed by other processes competing for the machine."""
        total, seen = 0, False
        try:
            tasks = os.listdir(f"/proc/{self.proc.pid}/task")
        except OSError:
            return None
        for task in tasks:
            try:
                total += int(Path(f"/proc/{self.proc.pid}/task/{task}/schedstat").read_text()
                             .split()[0])
                seen = True
            except (OSError, ValueError, IndexError):
                continue
        return total / 1e6 if seen else None

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident set so far (``VmHWM``), in MB."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()


def ms(seconds: float) -> float:
    return seconds * 1000


async def _first_answer(
    command: Sequence[str], env: Mapping[str, str], cwd: Path,
    request: tuple[str, dict[str, Any]] | None,
) -> tuple[float, float | None]:
    """(spawn -> answer ms, server CPU ms at the answer) of ``initialize`` (``request`` None)
    or of ``request`` sent right after ``initialize``/``initialized``."""
    client = await Client.spawn(command, env, cwd)
    try:
        at = await client.initialize()
        if request is not None:
            at, _ = await client.request(*request)
        return ms(at - client.spawned_at), client.cpu_ms()
    finally:
        await client.close()


async def first_initialize(
    command: Sequence[str], env: Mapping[str, str], cwd: Path
) -> tuple[float, float | None]:
    return await _first_answer(command, env, cwd, None)


async def first_list(
    command: Sequence[str], env: Mapping[str, str], cwd: Path
) -> tuple[float, float | None]:
    return await _first_answer(command, env, cwd, ("thread/list", {"limit": 25}))


async def first_resume(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, thread_id: str
) -> tuple[float, float | None]:
    return await _first_answer(command, env, cwd, ("thread/resume", {"threadId": thread_id}))


async def measure_initialize(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> float:
    return (await first_initialize(command, env, cwd))[0]


async def measure_first_list(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> float:
    return (await first_list(command, env, cwd))[0]


async def measure_first_resume(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, thread_id: str
) -> float:
    return (await first_resume(command, env, cwd, thread_id))[0]


async def _turn(client: Client, thread_id: str, text: str) -> tuple[float, float]:
    client.drain()
    t0 = time.perf_counter()
    await client.request("turn/start", {
        "threadId": thread_id, "input": [{"type": "text", "text": text, "text_elements": []}],
    })
    started, _ = await client.wait_note("turn/started")
    done, _ = await client.wait_note("turn/completed")
    return ms(started - t0), ms(done - t0)


async def measure_turns(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, idle_s: float = 0.0
) -> dict[str, float]:
    """``thread/start``, then the first and second turn of a fresh process (the first one
    ``idle_s`` after ``thread/start`` answered: 0 is a script, a second is a person typing)."""
    client = await Client.spawn(command, env, cwd)
    try:
        await client.initialize()
        t0 = time.perf_counter()
        at, result = await client.request("thread/start", {"cwd": str(cwd)})
        thread_start = ms(at - t0)
        thread_id = result["thread"]["id"]
        if idle_s:
            await asyncio.sleep(idle_s)
        first_started, first_done = await _turn(client, thread_id, "hello")
        warm_started, warm_done = await _turn(client, thread_id, "again")
        return {"thread_start": thread_start, "first_turn": first_started,
                "first_turn_done": first_done, "warm_turn": warm_started,
                "warm_turn_done": warm_done}
    finally:
        await client.close()


def no_bytecode_env(env: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """``env`` for a start in which threadline's own modules have no cached bytecode and
    none gets written (an install never compiled, or ``PYTHONDONTWRITEBYTECODE=1`` over
    stale caches): ``PYTHONPATH`` names a copy of ``src/`` without ``__pycache__``. The
    interpreter's and the dependencies' bytecode stay as installed. A native server ignores
    both variables."""
    copy = scratch / "src-without-bytecode"
    if not copy.exists():
        shutil.copytree(REPO_ROOT / "src" / "threadline", copy / "threadline",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return {**env, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}


def one_turn_thread(home: Path) -> str:
    """A small rollout in ``home`` (what a first resume opens)."""
    created = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    thread_id, _ = write_rollout(home, created, turns=1, reply_chars=200, text="Small thread")
    return thread_id


async def startup_figures(
    command: Sequence[str], scratch: Path, base_url: str, *, no_bytecode: bool = False
) -> dict[str, float]:
    """One run of every start-up figure, each in a fresh home."""
    out: dict[str, float] = {}

    def fresh(name: str) -> tuple[Path, dict[str, str]]:
        home = write_home(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch)), base_url)
        env = server_env(home)
        return home, (no_bytecode_env(env, scratch) if no_bytecode else env)

    def record(key: str, figures: tuple[float, float | None]) -> None:
        out[key] = figures[0]
        if figures[1] is not None:
            out[f"{key}_cpu"] = figures[1]

    home, env = fresh("init")
    record("initialize", await first_initialize(command, env, home))
    home, env = fresh("list")
    record("first_list", await first_list(command, env, home))
    home, env = fresh("resume")
    record("first_resume", await first_resume(command, env, home, one_turn_thread(home)))
    home, env = fresh("turn")
    out.update(await measure_turns(command, env, home))
    return out


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--server", default=shlex.join(THREADLINE), help="app-server command")
    parser.add_argument("--no-bytecode", action="store_true")
    args = parser.parse_args(argv)
    command = shlex.split(args.server)
    runs: list[dict[str, float]] = []
    with mm.MockModel() as mock, tempfile.TemporaryDirectory(prefix="tl-startup-") as tmp:
        mock.set_default(mm.text("ok"))
        for _ in range(max(1, args.runs)):
            figures = await startup_figures(command, Path(tmp), mock.base_url,
                                            no_bytecode=args.no_bytecode)
            runs.append(figures)
    print(f"{args.server}  (median of {len(runs)} runs, ms)")
    for key in runs[0]:
        print(f"  {key:<18} {statistics.median(r[key] for r in runs if key in r):9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
