"""threadline against real Codex 0.169, side by side: every row of issue #15's table.

    .venv/bin/python bench/compare_codex.py [--runs 5] [--a CMD] [--b CMD] [--only ROWS]
                                            [--many 10000] [--gigabyte] [--keep]

``--a`` defaults to ``.venv/bin/threadline app-server``, ``--b`` to the Codex binary that
``../shared/tools/codex-ref`` prints (``CODEX_REF_BIN`` wins when set) plus ``app-server``.
Both run on stdio with ``THREADLINE_HOME`` and ``CODEX_HOME`` pointing at the same home, whose
``config.toml`` selects the mock model (``tests/support/mock_model.py``, in this process, real
HTTP on 127.0.0.1). Every measurement alternates A B A B …; each row reports the median of
``--runs`` (at least 5) and the ratio A / B.

Row groups (``--only`` takes a comma-separated subset):

* ``startup``: spawn -> ``initialize`` answered (empty home), spawn -> first ``thread/list``,
  spawn -> first ``thread/resume`` of a one-turn thread answered; each with the bytecode cache
  as installed, and (``nobytecode``) with none for threadline's own modules, so each of them
  compiles on that start (``bench/startup.py``'s ``no_bytecode_env``; nothing changes for a
  native binary); each also as the CPU time the server had used at that answer (every
  thread, from ``/proc``), steadier than the wall time when the machine is shared;
* ``turns``: the first ``thread/start`` answered, ``turn/start`` -> ``turn/started`` of the
  first turn right after it (a script) and one second after it (a person), and of a warm
  second turn; with the server's CPU (every thread, ``/proc`` schedstat) for the first
  ``thread/start`` and up to each first ``turn/started``;
* ``resume``: ``thread/resume`` of a 46 MB / 8,000-turn and a 192 MB / 33,000-turn rollout
  (request -> ``thread/tokenUsage/updated`` replay, fresh process each), ``thread/read
  includeTurns`` of the 46 MB one, the peak RSS of the 46 MB resume, the 46 MB one's
  ``thread/resume excludeTurns`` and ephemeral ``thread/fork`` (request -> answer, and the
  fork's peak RSS); ``--gigabyte`` adds a 1 GB rollout's resume (peak RSS per MB of rollout);
* ``list``: cold start + first ``thread/list`` over ``--many`` unindexed threads (a fresh
  copy of the home each run) and a warm ``thread/list`` in that process (median of 20, taken
  2 s after five unmeasured calls and once the server's CPU is quiet (under 5 ms in 0.5 s, at
  most 20 s more): once start-up's background work is over, however slow the machine).

Everything lives in one temporary directory (removed at the end unless ``--keep``); the big
rollouts are written once and every loop is bounded (runs, timeouts). The streamed-delta row
of the issue has no Codex figure; ``bench/turn_overhead.py`` measures it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench import startup as su  # noqa: E402
from bench.persistence import write_many, write_rollout  # noqa: E402
from tests.support import mock_model as mm  # noqa: E402

GROUPS = ("startup", "nobytecode", "turns", "resume", "list")
RESUME_SIZES = {"46MB": 8_000, "192MB": 33_000}
"""Turns of each big rollout; a turn of ``REPLY_CHARS`` replies is about 5.7 kB on disk."""
REPLY_CHARS = 2_000
GIGABYTE_TURNS = 172_000
REPLAY_TIMEOUT_S = 300.0
WARM_LIST_SETTLE_S = 2.0
SPACED_LISTS = 5
SPACED_LIST_PAUSE_S = 1.5
QUIET_WINDOW_S = 0.5
QUIET_CPU_MS = 5.0
QUIET_MAX_S = 20.0


@dataclass
class Row:
    what: str
    unit: str
    goal: str
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)

    def cells(self) -> tuple[str, str, str]:
        if not self.a or not self.b:
            return "-", "-", "-"
        ma, mb = statistics.median(self.a), statistics.median(self.b)
        ratio = f"{ma / mb:.3g}" if mb else "-"
        return _fmt(ma, self.unit), _fmt(mb, self.unit), ratio


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    return f"{value:,.1f} {unit}"


def codex_command() -> list[str]:
    explicit = os.environ.get("CODEX_REF_BIN")
    if explicit:
        return [explicit, "app-server"]
    tool = REPO_ROOT.parent / "shared" / "tools" / "codex-ref"
    out = subprocess.run([str(tool)], capture_output=True, text=True, check=True, timeout=600)
    return [out.stdout.strip().splitlines()[-1], "app-server"]


def _absolute(command: list[str]) -> list[str]:
    """The servers run in their homes: a relative program path is made absolute here."""
    if command and os.sep in command[0] and Path(command[0]).exists():
        return [str(Path(command[0]).resolve()), *command[1:]]
    return command


Measure = Callable[[Sequence[str]], Awaitable[dict[str, float]]]


async def interleave(
    commands: tuple[Sequence[str], Sequence[str]], runs: int, measure: Measure,
    rows: dict[str, Row], *, warm_up: bool = False,
) -> None:
    """``measure`` A, B, A, B … ``runs`` times each; each key of its result feeds that row.
    ``warm_up`` runs each side once first, unrecorded (page cache, an index build)."""
    if warm_up:
        for command in commands:
            await measure(command)
    for _ in range(runs):
        for side, command in zip("ab", commands, strict=True):
            figures = await measure(command)
            for key, value in figures.items():
                if key in rows:
                    getattr(rows[key], side).append(value)


def fresh_home(scratch: Path, base_url: str, name: str) -> Path:
    return su.write_home(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch)), base_url)


async def group_startup(ctx: Context, *, no_bytecode: bool) -> list[Row]:
    tag = ", no cached bytecode" if no_bytecode else ""
    rows = {
        "initialize": Row(f"spawn -> `initialize` answered, empty home{tag}", "ms", "<= 1.0"),
        "first_list": Row(f"spawn -> first `thread/list` answered{tag}", "ms", "<= 1.0"),
        "first_resume": Row(f"spawn -> first `thread/resume` (1-turn thread) answered{tag}",
                            "ms", "<= 1.0"),
        # The same three, as the CPU time the server had used when the answer arrived: on a
        # machine other processes load, steadier than the wall time (no goal of its own).
        "initialize_cpu": Row(f"server CPU at `initialize` answered{tag}", "ms", "-"),
        "first_list_cpu": Row(f"server CPU at first `thread/list` answered{tag}", "ms", "-"),
        "first_resume_cpu": Row(f"server CPU at first `thread/resume` answered{tag}", "ms",
                                "-"),
    }

    async def measure(command: Sequence[str]) -> dict[str, float]:
        def env(home: Path) -> dict[str, str]:
            base = su.server_env(home)
            return su.no_bytecode_env(base, ctx.scratch) if no_bytecode else base

        out: dict[str, float] = {}

        def record(key: str, figures: tuple[float, float | None]) -> None:
            out[key] = figures[0]
            if figures[1] is not None:
                out[f"{key}_cpu"] = figures[1]

        home = fresh_home(ctx.scratch, ctx.base_url, "init")
        record("initialize", await su.first_initialize(command, env(home), home))
        home = fresh_home(ctx.scratch, ctx.base_url, "list")
        record("first_list", await su.first_list(command, env(home), home))
        home = fresh_home(ctx.scratch, ctx.base_url, "resume")
        thread_id = su.one_turn_thread(home)
        record("first_resume", await su.first_resume(command, env(home), home, thread_id))
        return out

    await interleave(ctx.commands, ctx.runs, measure, rows)
    return list(rows.values())


def _task_cpu_ns(pid: int) -> dict[str, int]:
    """CPU time of each thread of ``pid`` so far (``/proc/<pid>/task/*/schedstat``), in ns."""
    out: dict[str, int] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            out[task] = int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return out


def _cpu_since(pid: int, before: dict[str, int]) -> float | None:
    """CPU ms the threads of ``pid`` used since ``before`` (a thread that ended meanwhile
    is left out: its share is not counted)."""
    now = _task_cpu_ns(pid)
    if not now or not before:
        return None
    return sum(max(0, ns - before.get(task, 0)) for task, ns in now.items()) / 1e6


async def measure_turns_cpu(
    command: Sequence[str], env: dict[str, str], cwd: Path, idle_s: float = 0.0
) -> dict[str, float]:
    """``bench/startup.measure_turns`` plus the server's CPU (every thread) spent on the
    first ``thread/start`` and up to each turn's ``turn/started``: on a shared machine the
    wall times follow the load, the CPU hardly does."""
    client = await su.Client.spawn(command, env, cwd)
    pid = client.proc.pid
    try:
        await client.initialize()
        cpu = _task_cpu_ns(pid)
        t0 = time.perf_counter()
        at, result = await client.request("thread/start", {"cwd": str(cwd)})
        out = {"thread_start": su.ms(at - t0)}
        spent = _cpu_since(pid, cpu)
        if spent is not None:
            out["thread_start_cpu"] = spent
        thread_id = result["thread"]["id"]
        if idle_s:
            await asyncio.sleep(idle_s)
        for key, text in (("first_turn", "hello"), ("warm_turn", "again")):
            client.drain()
            cpu = _task_cpu_ns(pid)
            t0 = time.perf_counter()
            await client.request("turn/start", {
                "threadId": thread_id,
                "input": [{"type": "text", "text": text, "text_elements": []}],
            })
            started, _ = await client.wait_note("turn/started")
            spent = _cpu_since(pid, cpu)
            done, _ = await client.wait_note("turn/completed")
            out[key] = su.ms(started - t0)
            out[f"{key}_done"] = su.ms(done - t0)
            if spent is not None:
                out[f"{key}_cpu"] = spent
        return out
    finally:
        await client.close()


async def measure_resumed_turn(
    command: Sequence[str], env: dict[str, str], cwd: Path, thread_id: str
) -> dict[str, float]:
    """A fresh process's first turn when its first thread is a resumed one: ``thread/resume``
    of ``thread_id``, then ``turn/start`` -> ``turn/started`` at once (a resume builds less than
    a start, so the turn may pay for the rest)."""
    client = await su.Client.spawn(command, env, cwd)
    pid = client.proc.pid
    try:
        await client.initialize()
        await client.request("thread/resume", {"threadId": thread_id})
        client.drain()
        cpu = _task_cpu_ns(pid)
        t0 = time.perf_counter()
        await client.request("turn/start", {
            "threadId": thread_id,
            "input": [{"type": "text", "text": "hello again", "text_elements": []}],
        })
        started, _ = await client.wait_note("turn/started")
        out = {"resumed_turn": su.ms(started - t0)}
        spent = _cpu_since(pid, cpu)
        if spent is not None:
            out["resumed_turn_cpu"] = spent
        await client.wait_note("turn/completed")
        return out
    finally:
        await client.close()


async def group_turns(ctx: Context) -> list[Row]:
    rows = {
        "thread_start": Row("first `thread/start` answered", "ms", "-"),
        "thread_start_cpu": Row("  server CPU for it", "ms", "-"),
        "first_turn": Row("first turn right after `thread/start`: `turn/start` -> "
                          "`turn/started`", "ms", "<= 1.0"),
        "first_turn_cpu": Row("  server CPU up to `turn/started`", "ms", "-"),
        "first_turn_done": Row("  the same, `turn/start` -> `turn/completed`", "ms", "-"),
        "idle_first_turn": Row("first turn 1 s after `thread/start`: `turn/start` -> "
                               "`turn/started`", "ms", "<= 1.0"),
        "idle_first_turn_cpu": Row("  server CPU up to `turn/started`", "ms", "-"),
        "idle_first_turn_done": Row("  the same, `turn/start` -> `turn/completed`", "ms", "-"),
        "warm_turn": Row("warm turn: `turn/start` -> `turn/started`", "ms", "keep"),
        "resumed_turn": Row("first turn right after a first `thread/resume` (1-turn thread): "
                            "`turn/start` -> `turn/started`", "ms", "<= 1.0"),
        "resumed_turn_cpu": Row("  server CPU up to `turn/started`", "ms", "-"),
    }

    async def measure(command: Sequence[str]) -> dict[str, float]:
        home = fresh_home(ctx.scratch, ctx.base_url, "turn")
        out = await measure_turns_cpu(command, su.server_env(home), home)
        home = fresh_home(ctx.scratch, ctx.base_url, "idle")
        idle = await measure_turns_cpu(command, su.server_env(home), home, idle_s=1.0)
        for key in ("first_turn", "first_turn_done", "first_turn_cpu"):
            if key in idle:
                out[f"idle_{key}"] = idle[key]
        home = fresh_home(ctx.scratch, ctx.base_url, "resumed")
        thread_id = su.one_turn_thread(home)
        out.update(await measure_resumed_turn(command, su.server_env(home), home, thread_id))
        return out

    await interleave(ctx.commands, ctx.runs, measure, rows)
    return list(rows.values())


def big_rollouts(home: Path, gigabyte: bool) -> dict[str, tuple[str, float]]:
    """(thread id, size in MB) of each big rollout, written into ``home``."""
    sizes = dict(RESUME_SIZES)
    if gigabyte:
        sizes["1GB"] = GIGABYTE_TURNS
    out: dict[str, tuple[str, float]] = {}
    for n, (label, turns) in enumerate(sizes.items()):
        created = datetime(2027, 6, 1, tzinfo=UTC) + timedelta(hours=n)
        thread_id, path = write_rollout(home, created, turns=turns, reply_chars=REPLY_CHARS,
                                        text=f"Large thread {label}")
        out[label] = (thread_id, path.stat().st_size / 1e6)
    return out


async def _resume_once(command: Sequence[str], home: Path, thread_id: str, method: str,
                       params: dict[str, object], *, replay: bool = True
                       ) -> tuple[float, float | None]:
    """(request -> the usage replay (a resume, unless not ``replay``) or the response (the
    rest), peak RSS MB) in a fresh process."""
    client = await su.Client.spawn(command, su.server_env(home), home)
    try:
        await client.initialize()
        client.drain()
        t0 = time.perf_counter()
        at, _ = await client.request(method, {"threadId": thread_id, **params})
        if method == "thread/resume" and replay:
            at, _ = await client.wait_note("thread/tokenUsage/updated", REPLAY_TIMEOUT_S)
        return su.ms(at - t0), client.peak_rss_mb()
    finally:
        await client.close()


async def group_resume(ctx: Context) -> list[Row]:
    home = fresh_home(ctx.scratch, ctx.base_url, "big")
    big = big_rollouts(home, ctx.gigabyte)
    rows: dict[str, Row] = {}
    turns = {**RESUME_SIZES, "1GB": GIGABYTE_TURNS}
    for label, (_, size) in big.items():
        rows[f"resume_{label}"] = Row(
            f"`thread/resume` of a {size:,.0f} MB / {turns[label]:,}-turn rollout -> usage "
            "replay", "ms", "<= 0.5")
    size_46 = big["46MB"][1]
    rows["read_46MB"] = Row(f"`thread/read includeTurns` of the {size_46:,.0f} MB rollout", "ms",
                            "<= 1.0")
    rows["rss_46MB"] = Row(f"peak RSS of the {size_46:,.0f} MB resume", "MB", "<= 0.5")
    rows["resume_ex_46MB"] = Row(f"`thread/resume excludeTurns` of the {size_46:,.0f} MB rollout "
                                 "-> answered", "ms", "-")
    rows["fork_46MB"] = Row(f"`thread/fork` of the {size_46:,.0f} MB rollout -> answered", "ms",
                            "-")
    rows["rss_fork_46MB"] = Row("peak RSS of that fork", "MB", "-")
    if "1GB" in big:
        rows["rss_per_mb_1GB"] = Row("peak RSS per MB of rollout (1 GB rollout)", "MB/MB",
                                     "<= 0.5")

    async def measure(command: Sequence[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for label, (thread_id, size) in big.items():
            took, rss = await _resume_once(command, home, thread_id, "thread/resume", {})
            out[f"resume_{label}"] = took
            if label == "46MB" and rss is not None:
                out["rss_46MB"] = rss
            if label == "1GB" and rss is not None:
                out["rss_per_mb_1GB"] = rss / size
        took, _ = await _resume_once(command, home, big["46MB"][0], "thread/read",
                                     {"includeTurns": True})
        out["read_46MB"] = took
        took, _ = await _resume_once(command, home, big["46MB"][0], "thread/resume",
                                     {"excludeTurns": True}, replay=False)
        out["resume_ex_46MB"] = took
        took, rss = await _resume_once(command, home, big["46MB"][0], "thread/fork",
                                       {"ephemeral": True})
        out["fork_46MB"] = took
        if rss is not None:
            out["rss_fork_46MB"] = rss
        return out

    await interleave(ctx.commands, ctx.runs, measure, rows, warm_up=True)
    return list(rows.values())


async def until_quiet(client: su.Client) -> None:
    """Wait until the server has used under ``QUIET_CPU_MS`` of CPU in ``QUIET_WINDOW_S``
    (its start-up's background work, a warm-up or an index being finished, is over), at
    most ``QUIET_MAX_S``; on a slow machine a fixed pause can end while that work still runs."""
    deadline = time.perf_counter() + QUIET_MAX_S
    before = client.cpu_ms()
    while before is not None and time.perf_counter() < deadline:
        await asyncio.sleep(QUIET_WINDOW_S)
        now = client.cpu_ms()
        if now is None or now - before < QUIET_CPU_MS:
            return
        before = now


async def group_list(ctx: Context) -> list[Row]:
    template = fresh_home(ctx.scratch, ctx.base_url, "many")
    write_many(template, ctx.many)
    rows = {
        "cold_list": Row(f"cold start + first `thread/list` over {ctx.many:,} unindexed threads",
                         "ms", "keep <= 0.05"),
        "warm_list": Row("warm `thread/list` (25 of them; median of 20, start-up's work over)",
                         "ms", "keep <= 0.05"),
        "spaced_list": Row(f"warm `thread/list`, {SPACED_LIST_PAUSE_S:g} s apart (median of "
                           f"{SPACED_LISTS})", "ms", "keep <= 0.05"),
    }

    async def measure(command: Sequence[str]) -> dict[str, float]:
        home = Path(tempfile.mkdtemp(prefix="many-run-", dir=ctx.scratch))
        shutil.rmtree(home)
        shutil.copytree(template, home)
        try:
            client = await su.Client.spawn(command, su.server_env(home), home)
            try:
                await client.initialize()
                at, _ = await client.request("thread/list", {"limit": 25})
                out = {"cold_list": su.ms(at - client.spawned_at)}
                # Warm: after start-up's background work (an index being finished, a warm-up).
                for _ in range(5):
                    await client.request("thread/list", {"limit": 25})
                await asyncio.sleep(WARM_LIST_SETTLE_S)
                await until_quiet(client)
                samples = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    at, _ = await client.request("thread/list", {"limit": 25})
                    samples.append(su.ms(at - t0))
                out["warm_list"] = statistics.median(samples)
                # Lists a person makes, seconds apart: what a list costs once whatever it
                # may cache or batch for a burst has lapsed.
                samples = []
                for _ in range(SPACED_LISTS):
                    await asyncio.sleep(SPACED_LIST_PAUSE_S)
                    t0 = time.perf_counter()
                    at, _ = await client.request("thread/list", {"limit": 25})
                    samples.append(su.ms(at - t0))
                out["spaced_list"] = statistics.median(samples)
                return out
            finally:
                await client.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)

    await interleave(ctx.commands, ctx.runs, measure, rows)
    return list(rows.values())


@dataclass
class Context:
    commands: tuple[Sequence[str], Sequence[str]]
    runs: int
    scratch: Path
    base_url: str
    many: int
    gigabyte: bool


def print_table(names: tuple[str, str], rows: list[Row], runs: int) -> None:
    print(f"\nmedians of {runs} interleaved runs; ratio = A / B")
    print(f"A = {names[0]}\nB = {names[1]}\n")
    print("| what | A | B | ratio | goal |")
    print("|---|---|---|---|---|")
    for row in rows:
        a, b, ratio = row.cells()
        print(f"| {row.what} | {a} | {b} | {ratio} | {row.goal} |")


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--a", help="first app-server command (default: threadline's)")
    parser.add_argument("--b", help="second app-server command (default: Codex 0.169's)")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"row groups to run, comma-separated: {', '.join(GROUPS)}")
    parser.add_argument("--many", type=int, default=10_000,
                        help="threads of the cold-start list row (the issue used 100,000)")
    parser.add_argument("--gigabyte", action="store_true", help="add the 1 GB rollout row")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown row groups: {', '.join(sorted(unknown))}")
    a = _absolute(shlex.split(args.a)) if args.a else list(su.THREADLINE)
    b = _absolute(shlex.split(args.b)) if args.b else codex_command()
    runs = max(5, args.runs)
    scratch = Path(tempfile.mkdtemp(prefix="tl-compare-", dir=os.environ.get("TMPDIR")))
    rows: list[Row] = []
    try:
        with mm.MockModel() as mock:
            mock.set_default(mm.text("ok"))
            ctx = Context((a, b), runs, scratch, mock.base_url, max(1, args.many), args.gigabyte)
            for group in groups:
                started = time.perf_counter()
                if group == "startup":
                    rows += await group_startup(ctx, no_bytecode=False)
                elif group == "nobytecode":
                    rows += await group_startup(ctx, no_bytecode=True)
                elif group == "turns":
                    rows += await group_turns(ctx)
                elif group == "resume":
                    rows += await group_resume(ctx)
                elif group == "list":
                    rows += await group_list(ctx)
                print(f"[{group}: {time.perf_counter() - started:.0f} s]", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print_table((shlex.join(a), shlex.join(b)), rows, runs)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
