"""Persistence benchmarks: index build, thread/list paging, resume and fork latency.

    .venv/bin/python bench/persistence.py [--threads 10000] [--sizes 1,20,100]
                                          [--compare "codex app-server"] [--skip-server]

Everything runs in a temporary home. Synthetic rollouts are written in the
legacy format threadline itself writes (meta with base instructions, then per
turn: task_started, turn_context, the user message as response item and event,
the assistant message as response item and event, token_count, task_complete).

Measured:

(a) building the SQLite index for N unindexed rollouts (first start);
(b) ``thread/list`` first page and a deep page (cursor walked to the middle) over N
    threads, through the store;
(c) through a real app-server subprocess over stdio: ``thread/resume`` latency from
    the request to the response and to the ``thread/tokenUsage/updated`` replay, for
    rollouts of about 1, 20 and 100 MB (a fresh server process for each);
(d) ``thread/fork`` of the 20 MB rollout (request -> response -> replay);
plus ``thread/list`` first page over the N threads through the server.

``--compare CMD`` repeats the server-side measurements against another app-server
command (run with ``CODEX_HOME`` and ``THREADLINE_HOME`` pointing at the same home),
printing both side by side.
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
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from threadline.rollout.history import reconstruct  # noqa: E402
from threadline.rollout.reader import read_rollout  # noqa: E402
from threadline.store import ListQuery, LocalThreadStore  # noqa: E402

CONFIG_TOML = """\
model_provider = "mock"
model = "mock-model"

[model_providers.mock]
name = "mock"
base_url = "http://127.0.0.1:9/v1"
wire_api = "responses"
"""

BASE_INSTRUCTIONS = (
    "You are a coding agent running on the user's machine. Be precise, be safe, be helpful. "
) * 60  # a few KB, as a real session_meta carries


# --- synthetic rollouts ---------------------------------------------------------------------


def _uuid7(ms: int) -> str:
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | ((rand >> 68) & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _line(when: datetime, kind: str, payload: dict[str, Any]) -> str:
    return json.dumps(
        {"timestamp": _stamp(when), "type": kind, "payload": payload},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _usage(total: int, last: int) -> dict[str, Any]:
    def block(n: int) -> dict[str, int]:
        return {"input_tokens": n - n // 10, "cached_input_tokens": n // 5, "output_tokens": n // 10,
                "reasoning_output_tokens": n // 40, "total_tokens": n}

    return {"total_token_usage": block(total), "last_token_usage": block(last),
            "model_context_window": 200_000}


def rollout_text(
    thread_id: str, created: datetime, *, turns: int, reply_chars: int, text: str, cwd: str
) -> str:
    out = [
        _line(created, "session_meta", {
            "id": thread_id, "timestamp": _stamp(created), "cwd": cwd, "originator": "bench",
            "cli_version": "0.1.0", "source": "vscode", "model_provider": "mock",
            "base_instructions": {"text": BASE_INSTRUCTIONS},
            "git": {"commit_hash": "0123abcd", "branch": "main"},
        })
    ]
    total = 0
    reply = ("lorem ipsum dolor sit amet " * (reply_chars // 27 + 1))[:reply_chars]
    for turn in range(turns):
        when = created + timedelta(seconds=turn * 2)
        turn_id = f"{thread_id[:-4]}{turn:04x}"
        message = text if turn == 0 else f"{text} (follow-up {turn})"
        out.append(_line(when, "event_msg", {"type": "task_started", "turn_id": turn_id,
                                             "model_context_window": 200_000,
                                             "collaboration_mode_kind": "default"}))
        if turn == 0:
            out.append(_line(when, "response_item", {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": f"<environment_context><cwd>{cwd}</cwd></environment_context>"}]}))
        out.append(_line(when, "turn_context", {"turn_id": turn_id, "cwd": cwd,
                                                "approval_policy": "never",
                                                "sandbox_policy": {"type": "read-only"},
                                                "model": "mock-model", "summary": "auto"}))
        out.append(_line(when, "response_item", {"type": "message", "role": "user",
                                                 "content": [{"type": "input_text", "text": message}]}))
        out.append(_line(when, "event_msg", {"type": "user_message", "message": message,
                                             "images": [], "local_images": [], "text_elements": []}))
        out.append(_line(when, "response_item", {"type": "message", "role": "assistant",
                                                 "content": [{"type": "output_text", "text": reply}]}))
        out.append(_line(when, "event_msg", {"type": "agent_message", "message": reply}))
        last = 1000 + turn
        total += last
        out.append(_line(when, "event_msg", {"type": "token_count", "info": _usage(total, last),
                                             "rate_limits": None}))
        out.append(_line(when, "event_msg", {"type": "task_complete", "turn_id": turn_id,
                                             "last_agent_message": reply[:40]}))
    return "\n".join(out) + "\n"


def rollout_path(home: Path, thread_id: str, created: datetime) -> Path:
    local = created  # the bench labels UTC as local; only the layout matters here
    day = home / "sessions" / f"{local:%Y}" / f"{local:%m}" / f"{local:%d}"
    return day / f"rollout-{local:%Y-%m-%dT%H-%M-%S}-{thread_id}.jsonl"


def write_rollout(home: Path, created: datetime, *, turns: int, reply_chars: int, text: str) -> tuple[str, Path]:
    thread_id = _uuid7(int(created.timestamp() * 1000))
    path = rollout_path(home, thread_id, created)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        rollout_text(thread_id, created, turns=turns, reply_chars=reply_chars, text=text,
                     cwd=f"/work/project-{hash(thread_id) % 7}"),
        encoding="utf-8",
    )
    return thread_id, path


def write_many(home: Path, count: int) -> list[str]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    for n in range(count):
        created = start + timedelta(minutes=7 * n, milliseconds=n % 1000)
        thread_id, _ = write_rollout(home, created, turns=3, reply_chars=400,
                                     text=f"Task number {n}: please look at module {n % 97}")
        ids.append(thread_id)
    return ids


def write_sized(home: Path, megabytes: float, label: str) -> tuple[str, Path]:
    reply_chars = 64_000
    per_turn = 2 * reply_chars + 1500
    turns = max(1, int(megabytes * 1_000_000 / per_turn))
    created = datetime(2027, 6, 1, tzinfo=UTC) + timedelta(hours=len(label))
    return write_rollout(home, created, turns=turns, reply_chars=reply_chars,
                         text=f"Large thread {label}")


# --- store-level measurements ---------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


async def bench_store(home: Path, count: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    store = LocalThreadStore(home)
    t0 = time.perf_counter()
    await store.open()
    # Requests are served while the first-start backfill runs: measure them meanwhile.
    during: list[float] = []
    while store.backfilling:
        t = time.perf_counter()
        await store.list(ListQuery(limit=25))
        during.append(time.perf_counter() - t)
        await asyncio.sleep(0.02)
    report = await store.wait_ready()
    figures["index_build_s"] = time.perf_counter() - t0
    figures["list_during_backfill_n"] = len(during)
    figures["list_during_backfill_median_s"] = statistics.median(during) if during else 0.0
    figures["list_during_backfill_max_s"] = max(during) if during else 0.0
    assert report is not None and report.indexed >= count, report

    samples = []
    for _ in range(20):
        t = time.perf_counter()
        page = await store.list(ListQuery(limit=25))
        samples.append(time.perf_counter() - t)
    assert len(page.records) == 25
    figures["list_first_page_s"] = statistics.median(samples)

    # Walk to the middle with limit 100 pages, then time the deep page.
    cursor = None
    for _ in range(count // 200):
        cursor = (await store.list(ListQuery(limit=100, cursor=cursor))).next_cursor
    samples = []
    for _ in range(20):
        t = time.perf_counter()
        page = await store.list(ListQuery(limit=25, cursor=cursor))
        samples.append(time.perf_counter() - t)
    figures["list_deep_page_s"] = statistics.median(samples)

    samples = []
    for _ in range(10):
        t = time.perf_counter()
        await store.list(ListQuery(limit=25, sort_key="updated_at", search_term="module 42"))
        samples.append(time.perf_counter() - t)
    figures["list_search_s"] = statistics.median(samples)

    t = time.perf_counter()
    await store.reindex()
    figures["reindex_s"] = time.perf_counter() - t
    await store.close()
    return figures


# --- a minimal JSON-lines app-server client -------------------------------------------------


@dataclass
class Server:
    proc: asyncio.subprocess.Process
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    notifications: asyncio.Queue[tuple[float, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    next_id: int = 1
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, command: Sequence[str], home: Path) -> Server:
        env = dict(os.environ, THREADLINE_HOME=str(home), CODEX_HOME=str(home), RUST_LOG="error")
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env, limit=256 << 20,
        )
        server = cls(proc)
        server.reader = asyncio.create_task(server._read())
        await server.request("initialize", {"clientInfo": {"name": "bench", "version": "0.0.1"},
                                            "capabilities": {"experimentalApi": True}})
        await server.notify("initialized")
        return server

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
                    fut.set_result({"at": now, **msg})
            elif "id" in msg and "method" in msg:  # a server request: decline politely
                await self._send({"id": msg["id"], "error": {"code": -32601, "message": "bench"}})
            elif "method" in msg:
                await self.notifications.put((now, msg))
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("server exited"))

    async def _send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        await self.proc.stdin.drain()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self._send({"method": method, **({"params": params} if params is not None else {})})

    async def request(self, method: str, params: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        request_id = self.next_id
        self.next_id += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = fut
        await self._send({"id": request_id, "method": method, "params": params})
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply

    async def wait_notification(self, method: str, timeout: float = 30) -> float:
        async with asyncio.timeout(timeout):
            while True:
                at, msg = await self.notifications.get()
                if msg.get("method") == method:
                    return at

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()


async def timed_call(server: Server, method: str, params: dict[str, Any]) -> tuple[float, float | None]:
    """(request -> response, request -> tokenUsage replay) in seconds."""
    while not server.notifications.empty():
        server.notifications.get_nowait()
    t0 = time.perf_counter()
    reply = await server.request(method, params)
    response = reply["at"] - t0
    try:
        replay_at = await server.wait_notification("thread/tokenUsage/updated", timeout=10)
    except TimeoutError:
        return response, None
    return response, replay_at - t0


async def bench_server(command: Sequence[str], home: Path, sized: dict[str, str],
                       repeats: int, deep_pages: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for label, thread_id in sized.items():
        results = []
        for _ in range(repeats):
            server = await Server.start(command, home)  # a cold server each time
            try:
                results.append(await timed_call(server, "thread/resume", {"threadId": thread_id}))
            finally:
                await server.stop()
        figures[f"resume_{label}"] = results
    if "20MB" in sized:
        results = []
        for _ in range(repeats):
            server = await Server.start(command, home)
            try:
                results.append(await timed_call(server, "thread/fork", {"threadId": sized["20MB"]}))
            finally:
                await server.stop()
        figures["fork_20MB"] = results
    server = await Server.start(command, home)
    try:
        samples = []
        for _ in range(10):
            t0 = time.perf_counter()
            reply = await server.request("thread/list", {"limit": 25, "modelProviders": []})
            samples.append(reply["at"] - t0)
        figures["list_first_page"] = statistics.median(samples)
        cursor = None
        pages = 0
        for _ in range(deep_pages):
            reply = await server.request("thread/list", {"limit": 100, "cursor": cursor,
                                                         "modelProviders": []})
            cursor = reply["result"].get("nextCursor")
            pages += 1
            if cursor is None:
                break
        samples = []
        for _ in range(10):
            t0 = time.perf_counter()
            reply = await server.request("thread/list", {"limit": 25, "cursor": cursor,
                                                         "modelProviders": []})
            samples.append(reply["at"] - t0)
        figures["list_deep_page"] = statistics.median(samples)
        figures["list_deep_offset"] = pages * 100
    finally:
        await server.stop()
    return figures


def _fmt_pair(results: list[tuple[float, float | None]]) -> str:
    responses = [r for r, _ in results]
    replays = [p for _, p in results if p is not None]
    text = f"response {statistics.median(responses) * 1000:7.1f} ms"
    if replays:
        text += f", replay {statistics.median(replays) * 1000:7.1f} ms"
    if len(replays) < len(results):
        text += f", no replay in {len(results) - len(replays)} run(s)"
    return text + f"  (median of {len(results)})"


# --- main -----------------------------------------------------------------------------------


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--sizes", default="1,20,100", help="rollout sizes in MB for resume")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", default=None, help="another app-server command to measure too")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="threadline-bench-"))
    home = root / "home"
    home.mkdir()
    (home / "config.toml").write_text(CONFIG_TOML)
    try:
        t = time.perf_counter()
        write_many(home, args.threads)
        size = sum(p.stat().st_size for p in (home / "sessions").rglob("*.jsonl"))
        print(f"wrote {args.threads} rollouts ({size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")

        figures = await bench_store(home, args.threads)
        print(f"(a) index build, {args.threads} unindexed rollouts: {_ms(figures['index_build_s'])}"
              f"   (target < 3000 ms)")
        print(f"    thread/list while indexing: {int(figures['list_during_backfill_n'])} calls, "
              f"median {_ms(figures['list_during_backfill_median_s']).strip()}, "
              f"max {_ms(figures['list_during_backfill_max_s']).strip()}")
        print(f"    full reindex:                          {_ms(figures['reindex_s'])}")
        print(f"(b) thread/list first page (store):        {_ms(figures['list_first_page_s'])}"
              f"   (target < 20 ms)")
        print(f"    thread/list deep page (store):         {_ms(figures['list_deep_page_s'])}")
        print(f"    thread/list search, updated_at:        {_ms(figures['list_search_s'])}")

        if args.skip_server:
            return 0
        sized: dict[str, str] = {}
        for mb in (float(x) for x in args.sizes.split(",") if x.strip()):
            label = f"{mb:g}MB"
            thread_id, path = write_sized(home, mb, label)
            sized[label] = thread_id
            print(f"    {label} rollout: {path.stat().st_size / 1e6:.1f} MB")

        # The storage share of a resume: read + rebuild (history, turns, usage), in-process.
        for label, thread_id in sized.items():
            found = next((home / "sessions").rglob(f"*{thread_id}.jsonl"))
            samples = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                rebuilt = reconstruct(read_rollout(found))
                samples.append(time.perf_counter() - t)
            assert rebuilt.token_info is not None
            print(f"    read+reconstruct {label:>6} (in-process): median {_ms(statistics.median(samples))}"
                  f", first {_ms(samples[0])}  ({len(rebuilt.turns)} turns)")

        commands = {"threadline": [sys.executable, "-m", "threadline", "app-server"]}
        if args.compare:
            commands["compare"] = shlex.split(args.compare)
        for name, command in commands.items():
            print(f"--- server: {name} ({' '.join(command)})")
            try:
                server_figures = await bench_server(command, home, sized, args.repeats,
                                                    deep_pages=args.threads // 200)
            except Exception as exc:
                print(f"    server measurements failed: {type(exc).__name__}: {exc}")
                continue
            for label in sized:
                print(f"(c) thread/resume {label:>6}: {_fmt_pair(server_figures[f'resume_{label}'])}")
            if "fork_20MB" in server_figures:
                print(f"(d) thread/fork     20MB: {_fmt_pair(server_figures['fork_20MB'])}")
            print(f"(b) thread/list first page (server):   {_ms(server_figures['list_first_page'])}")
            print(f"    thread/list deep page at {server_figures['list_deep_offset']} (server):"
                  f" {_ms(server_figures['list_deep_page'])}")
        return 0
    finally:
        if args.keep:
            print(f"home kept at {home}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
