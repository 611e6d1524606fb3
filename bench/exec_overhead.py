"""What the sandbox adds to a command's start: ``true`` sandboxed vs. unsandboxed.

    .venv/bin/python bench/exec_overhead.py [--runs 50] [--mode read-only] [--tty]

Each run is one full ``exec_command`` call through :class:`ExecCommandTool` — argument
parsing, the launch (bubblewrap argv, seccomp filter, process limit), the subprocess,
reading its output, the completed item — for ``/bin/bash -c true`` in a scratch
workspace. Sandboxed (``--mode``, default ``read-only``) and ``danger-full-access``
calls alternate, so drift on the machine hits both alike; the added latency is the
difference of the medians. The first call of each kind is a warm-up (it also pays for
the one-time bubblewrap probe) and is not counted. ``--tty`` runs both kinds on a
pseudo-terminal (``"tty": true``), the path of an interactive exec session.

Only public names that exist since the first sandbox are used, so the same file measures
an older checkout too: ``PYTHONPATH=<checkout>/src python bench/exec_overhead.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from threadline.tools.registry import ToolContext
from threadline.tools.shell import ExecCommandTool


async def _call(tool: ExecCommandTool, cwd: Path, mode: str, tty: bool = False) -> float:
    async def ignore(_: Any) -> None:
        return None

    ctx = ToolContext(
        thread_id="bench",
        turn_id="turn",
        call_id="call",
        cwd=cwd,
        emit=ignore,
        complete_item=ignore,
        sandbox_mode=mode,
        approval_policy="never",
    )
    started = time.perf_counter()
    args: dict[str, Any] = {"cmd": "true", "login": False}
    if tty:
        args["tty"] = True
    out = await tool.run(ctx, json.dumps(args))
    elapsed = time.perf_counter() - started
    if "exited with code 0" not in out.text:
        raise SystemExit(f"{mode}: `true` failed:\n{out.text}")
    return elapsed


async def _measure(runs: int, mode: str, tty: bool) -> tuple[list[float], list[float]]:
    tool = ExecCommandTool()
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        cwd = Path(tmp)
        await _call(tool, cwd, mode, tty)
        await _call(tool, cwd, "danger-full-access", tty)
        boxed: list[float] = []
        free: list[float] = []
        for _ in range(runs):
            boxed.append(await _call(tool, cwd, mode, tty))
            free.append(await _call(tool, cwd, "danger-full-access", tty))
    return boxed, free


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=50, help="calls of each kind (1-1000)")
    parser.add_argument("--mode", default="read-only", choices=["read-only", "workspace-write"])
    parser.add_argument("--tty", action="store_true", help="run on a pseudo-terminal")
    args = parser.parse_args()
    if not 1 <= args.runs <= 1000:
        parser.error("--runs must be between 1 and 1000")
    boxed, free = asyncio.run(_measure(args.runs, args.mode, args.tty))
    added = statistics.median(boxed) - statistics.median(free)
    on = "a pty" if args.tty else "pipes"
    print(f"uid {os.geteuid()}, {args.runs} interleaved runs each, `/bin/bash -c true` on {on}")
    print(f"  unsandboxed (danger-full-access): median {_ms(free)}")
    print(f"  sandboxed   ({args.mode}):{' ' * (22 - len(args.mode))}median {_ms(boxed)}")
    print(f"  added by the sandbox:             {added * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
