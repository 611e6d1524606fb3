"""Paged history benchmark: the first and the last page of ``thread/turns/list`` and
``thread/items/list`` for threads of about 1 MB, 100 MB and 1 GB.

    .venv/bin/python bench/history_pages.py [--sizes 1,100,1000] [--limit 25] [--keep DIR]

Each rollout is generated in a temporary home (legacy format, as threadline writes it:
per turn task_started, turn_context, the user message as response item and event, a
~64 KB assistant message as response item and event, token_count, task_complete), and
removed afterwards; ``--keep DIR`` writes the homes there and reuses them.

Every measurement is a fresh ``threadline app-server`` process over stdio: spawn,
``initialize``, one page request; printed are the time from the request to its answer
and the process's peak RSS (``VmHWM``, read just before it is stopped). "first page"
is the newest turns (``turns/list`` default, descending) and the oldest items
(``items/list`` default, ascending); "last page" is the other end (the page a client
reaches last when it pages on with ``nextCursor``), asked for with the opposite
``sortDirection``. The first request on a thread builds its offset index (one pass
over the file, remembered in the home's cache) and is shown as ``cold``; the
following fresh processes use the remembered index.

``--resume`` adds, per size, ``thread/resume`` with ``excludeTurns: true`` of the same
thread and of a copy whose last two turns follow a ``compacted`` line (time to the
answer, peak RSS): without a compaction every model item is decoded (the model needs
them) but no turn's items but the last; with one, the resume seeks to it and reads only
the tail, and the earlier turns' items are read only when a page asks for them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

THREAD_ID = "019a0000-0000-7000-8000-00000000be0c"
TS = "2026-11-20T10:00:00.000Z"
CONFIG_TOML = """\
model_provider = "mock"
model = "mock-model"

[model_providers.mock]
name = "mock"
base_url = "http://127.0.0.1:9/v1"
wire_api = "responses"
"""
REPLY = ("lorem ipsum dolor sit amet " * 2400)[:64000]


def _line(kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"timestamp": TS, "type": kind, "payload": payload}, separators=(",", ":"))


def _turn(n: int, cwd: str) -> str:
    turn_id = f"019a0000-0000-7000-8000-{n:012d}"
    question = f"Turn {n}: write a long paragraph."
    reply = f"Reply {n}: {REPLY}"
    usage = {"input_tokens": 100, "cached_input_tokens": 0, "output_tokens": 50,
             "reasoning_output_tokens": 0, "total_tokens": 150}
    return "\n".join([
        _line("event_msg", {"type": "task_started", "turn_id": turn_id, "started_at": 1700000000}),
        _line("turn_context", {"turn_id": turn_id, "cwd": cwd, "approval_policy": "never",
                               "sandbox_policy": {"type": "read-only"}, "model": "mock-model",
                               "summary": "auto"}),
        _line("response_item", {"type": "message", "role": "user",
                                "content": [{"type": "input_text", "text": question}]}),
        _line("event_msg", {"type": "user_message", "message": question, "local_images": [],
                            "text_elements": []}),
        _line("response_item", {"type": "message", "role": "assistant",
                                "content": [{"type": "output_text", "text": reply}]}),
        _line("event_msg", {"type": "agent_message", "message": reply}),
        _line("event_msg", {"type": "token_count", "info": {"total_token_usage": usage,
                            "last_token_usage": usage, "model_context_window": 200000},
                            "rate_limits": None}),
        _line("event_msg", {"type": "task_complete", "turn_id": turn_id,
                            "last_agent_message": reply[:100]}),
    ]) + "\n"


def make_home(root: Path, megabytes: int, *, compacted: bool = False) -> Path:
    home = root / f"home-{megabytes}mb{'-compacted' if compacted else ''}"
    day = home / "sessions" / "2026" / "11" / "20"
    path = day / f"rollout-2026-11-20T10-00-00-{THREAD_ID}.jsonl"
    if path.exists():
        return home
    day.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")
    cwd = str(root)
    target = megabytes << 20
    with path.open("w", encoding="utf-8") as out:
        out.write(_line("session_meta", {"id": THREAD_ID, "timestamp": TS, "cwd": cwd,
                                         "originator": "bench", "cli_version": "0.0.0",
                                         "source": "vscode", "model_provider": "mock"}) + "\n")
        n = 0
        while out.tell() < target:
            out.write(_turn(n, cwd))
            n += 1
        if compacted:
            summary = "Summary of the work so far."
            kept = [{"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": summary}]}]
            out.write(_line("compacted", {"message": summary, "window_id": "w1",
                                          "first_window_id": "w0", "window_number": 1,
                                          "replacement_history": kept}) + "\n")
            out.write(_turn(n, cwd) + _turn(n + 1, cwd))
    return home


async def _send(proc: asyncio.subprocess.Process, msg: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(msg) + "\n").encode())
    await proc.stdin.drain()


async def _answer(proc: asyncio.subprocess.Process, rid: int) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        raw = await proc.stdout.readline()
        if not raw:
            raise RuntimeError("server closed its output")
        msg = json.loads(raw)
        if msg.get("id") == rid and ("result" in msg or "error" in msg):
            return dict(msg)


def _peak_rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return float("nan")


async def measure(home: Path, method: str, params: dict[str, Any]) -> tuple[float, float, int]:
    """(ms from request to answer, peak RSS in MB, entries on the page) in a fresh server."""
    env = dict(os.environ, THREADLINE_HOME=str(home), THREADLINE_LOG="WARNING")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "threadline", "app-server", "--listen", "stdio://",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=env, limit=64 << 20,
    )
    try:
        await _send(proc, {"id": 1, "method": "initialize",
                           "params": {"clientInfo": {"name": "bench", "version": "0"}}})
        await _answer(proc, 1)
        await _send(proc, {"method": "initialized"})
        start = time.perf_counter()
        await _send(proc, {"id": 2, "method": method, "params": {"threadId": THREAD_ID, **params}})
        answer = await _answer(proc, 2)
        elapsed = (time.perf_counter() - start) * 1000
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        rss = _peak_rss_mb(proc.pid)
        return elapsed, rss, len(answer["result"].get("data", ()))
    finally:
        proc.kill()
        await proc.wait()


CASES = (
    ("turns/list first", "thread/turns/list", {}),
    ("turns/list last", "thread/turns/list", {"sortDirection": "asc"}),
    ("items/list first", "thread/items/list", {}),
    ("items/list last", "thread/items/list", {"sortDirection": "desc"}),
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000", help="rollout sizes in MB")
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--keep", type=Path, default=None, help="keep the homes in this directory")
    parser.add_argument("--resume", action="store_true", help="also measure thread/resume")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    root = args.keep or Path(tempfile.mkdtemp(prefix="tl-history-pages-", dir="/var/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    need = (sum(sizes) << 20) * (2 if args.resume else 1)
    if shutil.disk_usage(root).free < 2 * need:
        raise SystemExit(f"not enough free space in {root} for {sum(sizes)} MB of rollouts")
    try:
        print(f"{'rollout':>9} {'measurement':<18} {'index':<5} {'ms':>9} {'peak RSS MB':>12} {'entries':>8}")
        for mb in sizes:
            home = make_home(root, mb)
            shutil.rmtree(home / "cache", ignore_errors=True)
            size = sum(p.stat().st_size for p in (home / "sessions").rglob("*.jsonl")) / (1 << 20)
            for number, (label, method, params) in enumerate(CASES):
                ms, rss, n = await measure(home, method, {**params, "limit": args.limit})
                state = "cold" if number == 0 else "warm"
                print(f"{size:>7.0f}MB {label:<18} {state:<5} {ms:>9.1f} {rss:>12.1f} {n:>8}")
            # the cold case again, now with the remembered index
            label, method, params = CASES[0]
            ms, rss, n = await measure(home, method, {**params, "limit": args.limit})
            print(f"{size:>7.0f}MB {label:<18} {'warm':<5} {ms:>9.1f} {rss:>12.1f} {n:>8}")
            if args.resume:
                for kind, where in (("resume", home), ("resume compacted", make_home(root, mb, compacted=True))):
                    ms, rss, _ = await measure(where, "thread/resume", {"excludeTurns": True})
                    print(f"{size:>7.0f}MB {kind:<18} {'':<5} {ms:>9.1f} {rss:>12.1f} {'':>8}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
