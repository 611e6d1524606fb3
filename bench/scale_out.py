"""Benchmark threadline app-servers sharing one PostgreSQL store (issue #16).

Scenarios (each bounded; a throw-away cluster is started unless ``--url`` is given):

* ``list``: ``thread/list``'s first page (the store call; 25 rows, newest first) with
  1k, 100k and 1M rows in ``tl_threads``, plus search pages (a term most rows match but
  the newest do not, the worst case; and a rare one) and a deep keyset page;
  median and p99 of ``--repeats`` calls. The rows are generated in SQL.
* ``stream``: ``--servers`` ``threadline app-server`` processes (stdio, each its own
  home) on one database, ``--threads`` threads each, every thread streaming one turn
  of ``--deltas`` deltas from the mock model at once (all turns started together; with
  ``--delay`` the mock paces its deltas). Reports deltas per second delivered to the
  clients, the added latency of each delta (from the mock emitting it to the client
  reading it; p50/p99), and lost or reordered deltas (must be 0), then that every turn
  is stored: each thread read back through another server has its turn completed with
  the full answer. With ``--follow`` a client on the next server also follows every
  thread (relayed through the database, ``core.relay``): its deltas must be the
  owner's client's, in the same order, and their latency is reported apart.
* ``takeover``: SIGKILL a server mid-turn; the time until a second server's
  ``thread/resume`` of the thread succeeds.

Run from the repository root: ``.venv/bin/python bench/scale_out.py [--only list]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.e2e.conftest import write_mock_config  # noqa: E402
from tests.support.appserver import AppServerProcess, start_app_server  # noqa: E402
from tests.support.mock_model import Gate, MockModel, text  # noqa: E402
from tests.support.postgres import start_cluster  # noqa: E402

from threadline.store import ListQuery  # noqa: E402
from threadline.store.postgres import PostgresThreadStore  # noqa: E402

BASE_MS = 1_780_000_000_000


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- list ---------------------------------------------------------------------------------


async def _fill(store: PostgresThreadStore, upto: int, have: int) -> None:
    async with store.db.connection() as conn:
        await conn.execute(
            "INSERT INTO tl_threads (id, rollout_path, created_at_ms, updated_at_ms, source, "
            "source_kind, model_provider, cwd, preview, preview_folded) "
            "SELECT 'bench-' || lpad(n::text, 9, '0'), '/h/sessions/x-' || n || '.jsonl', "
            "%s::bigint + n * 1000, %s::bigint + n * 997, 'cli', 'cli', 'openai', '/work/' || (n %% 50), "
            "'message ' || n, 'message ' || n FROM generate_series(%s::bigint, %s::bigint) AS n",
            (BASE_MS, BASE_MS, have, upto - 1),
        )
        await conn.execute("ANALYZE tl_threads")


async def _time(store: PostgresThreadStore, query: ListQuery, repeats: int) -> tuple[float, float]:
    await store.list(query)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        page = await store.list(query)
        samples.append((time.perf_counter() - started) * 1000)
        assert page.records
    return statistics.median(samples), _pct(samples, 0.99)


async def bench_list(url: str, sizes: list[int], repeats: int) -> None:
    print("thread/list first page (store call, 25 rows):")
    async with PostgresThreadStore(url, Path("/tmp/tl-bench-home")) as store:
        have = 0
        for size in sizes:
            started = time.perf_counter()
            await _fill(store, size, have)
            have = size
            fill_s = time.perf_counter() - started
            first = await _time(store, ListQuery(limit=25), repeats)
            by_updated = await _time(store, ListQuery(limit=25, sort_key="updated_at"), repeats)
            cwd = await _time(store, ListQuery(limit=25, cwds=("/work/7",)), repeats)
            page = await store.list(ListQuery(limit=100))
            deep = await _time(store, ListQuery(limit=25, cursor=page.next_cursor), repeats)
            search = await _time(store, ListQuery(limit=25, search_term="message 12"), repeats)
            rare = await _time(store, ListQuery(limit=25, search_term=f"message {size - 2}"), repeats)
            print(
                f"  {size:>9,} threads (filled in {fill_s:5.1f} s): first page p50 {first[0]:.2f} ms "
                f"p99 {first[1]:.2f} ms | by updated p50 {by_updated[0]:.2f} | cwd filter "
                f"p50 {cwd[0]:.2f} | page 5 p50 {deep[0]:.2f} | search p50 {search[0]:.2f} "
                f"(common term), {rare[0]:.2f} ms (rare term)"
            )


# ---- stream -------------------------------------------------------------------------------


async def _server(root: Path, name: str, mock: MockModel, url: str | None) -> AppServerProcess:
    home = root / name
    write_mock_config(home, mock.base_url)
    env = {"THREADLINE_STORE_URL": url or ""}
    return await start_app_server(home=home, env=env, cwd=root)


class _Scripts:
    """One distinct answer per model request (its words name it), and when the mock
    began streaming it: a delta's emission time is that plus ``delay`` per delta."""

    def __init__(self, deltas: int, delay: float) -> None:
        self.deltas = deltas
        self.delay = delay
        self.started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next = itertools.count()

    def __call__(self, request: Any) -> Any:
        with self._lock:
            n = next(self._next)
            key = f"r{n:05d}"
            self.started[key] = time.monotonic()
        return text(" ".join(f"{key}w{k:03d}" for k in range(self.deltas)), delay_s=self.delay)

    def answer_of(self, key: str) -> str:
        return " ".join(f"{key}w{k:03d}" for k in range(self.deltas))


def _deltas_by_thread(client: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in client.records:
        if r.direction == "s2c" and r.message.get("method") == "item/agentMessage/delta":
            out.setdefault(r.message["params"]["threadId"], []).append(r)
    return out


class _Tally:
    def __init__(self) -> None:
        self.total = self.lost = self.reordered = 0
        self.latency: list[float] = []
        self.behind: list[float] = []
        """Relayed: how much later than the owner's client each delta arrived."""

    def add(
        self,
        got: list[Any],
        scripts: _Scripts,
        reference: list[str] | None,
        times: Sequence[float] = (),
    ) -> None:
        self.total += len(got)
        texts = [r.message["params"]["delta"] for r in got]
        joined = "".join(texts)
        key = joined[:6]
        answer = scripts.answer_of(key)
        if joined != answer or (reference is not None and texts != reference):
            if sorted(joined.split()) == sorted(answer.split()):
                self.reordered += 1
            else:
                self.lost += 1
        self.behind += [(r.at - at) * 1000 for r, at in zip(got, times, strict=False)]
        t0 = scripts.started.get(key)
        if t0 is not None:
            for k, r in enumerate(got):
                self.latency.append((r.at - (t0 + (k + 1) * scripts.delay)) * 1000)

    def text(self) -> str:
        lat = self.latency
        pcts = f"latency p50 {_pct(lat, 0.5):.1f} ms p99 {_pct(lat, 0.99):.1f} ms" if lat else ""
        behind = self.behind
        if behind:
            pcts += f"; behind the owner's client p50 {_pct(behind, 0.5):.1f} ms p99 {_pct(behind, 0.99):.1f} ms"
        return f"{self.total:,} deltas, {pcts}, lost {self.lost}, reordered {self.reordered}"


async def bench_stream(
    url: str | None, servers: int, threads: int, deltas: int, *, follow: bool, delay: float
) -> None:
    """Every thread streams one turn; with ``follow`` the next server's client also
    follows each thread (``thread/resume`` of a thread another server owns: relayed)."""
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp, MockModel() as mock:
        root = Path(tmp)
        scripts = _Scripts(deltas, delay)
        mock.set_default(scripts)
        procs = [await _server(root, f"s{n}", mock, url) for n in range(servers)]
        try:
            per: list[list[str]] = [
                [
                    (await proc.client.request("thread/start", {}))["thread"]["id"]
                    for _ in range(threads)
                ]
                for proc in procs
            ]
            followers: list[tuple[Any, str]] = []
            if follow and servers > 1:
                # A first turn makes each history exist in the store, so another server can load it.
                for proc, ids in zip(procs, per, strict=True):
                    for tid in ids:
                        await proc.client.request(
                            "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "hi"}]}
                        )
                    want = set(ids)
                    while want:
                        note = await proc.client.wait_for_notification("turn/completed", timeout=300)
                        want.discard(note["params"]["threadId"])
                for n, ids in enumerate(per):
                    other = procs[(n + 1) % servers]
                    for tid in ids:
                        await other.client.request("thread/resume", {"threadId": tid})
                        followers.append((other, tid))
                for proc in procs:
                    proc.client.records.clear()
            started = time.monotonic()
            await asyncio.gather(
                *(
                    proc.client.request(
                        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "go"}]}
                    )
                    for proc, ids in zip(procs, per, strict=True)
                    for tid in ids
                )
            )
            waits: list[tuple[Any, set[str]]] = [(p, set(ids)) for p, ids in zip(procs, per, strict=True)]
            for proc in procs:
                watched = {tid for other, tid in followers if other is proc}
                if watched:
                    waits.append((proc, watched))
            for proc, want in waits:
                while want:
                    note = await proc.client.wait_for_notification(
                        "turn/completed", timeout=300, predicate=lambda p, w=want: p["threadId"] in w
                    )
                    want.discard(note["params"]["threadId"])
            elapsed = time.monotonic() - started
            owned, relayed = _Tally(), _Tally()
            seen = [_deltas_by_thread(proc.client) for proc in procs]
            reference: dict[str, list[str]] = {}
            arrived: dict[str, list[float]] = {}
            for n, ids in enumerate(per):
                for tid in ids:
                    got = seen[n].get(tid, [])
                    owned.add(got, scripts, None)
                    reference[tid] = [r.message["params"]["delta"] for r in got]
                    arrived[tid] = [r.at for r in got]
            for proc, tid in followers:
                got = seen[procs.index(proc)].get(tid, [])
                relayed.add(got, scripts, reference[tid], arrived[tid])
            reader = procs[-1].client
            stored_ok = 0
            for ids in per:
                for tid in ids[:10]:
                    read = await reader.request("thread/read", {"threadId": tid, "includeTurns": True})
                    turn = read["thread"]["turns"][-1]
                    if turn["status"] == "completed" and turn["items"][-1].get("text", "").startswith("r"):
                        stored_ok += 1
            label = "postgres" if url else "local"
            checked = sum(min(10, len(ids)) for ids in per)
            print(
                f"stream [{label}{', followed' if followers else ''}] {servers} servers x "
                f"{threads} threads x {deltas} deltas (delay {delay * 1000:g} ms): "
                f"{(owned.total + relayed.total) / elapsed:,.0f} deltas/s delivered over {elapsed:.1f} s; "
                f"stored and read back {stored_ok}/{checked}"
            )
            print(f"  owner's clients: {owned.text()}")
            if followers:
                print(f"  relayed clients: {relayed.text()}")
        finally:
            for proc in procs:
                await proc.stop()


# ---- takeover -----------------------------------------------------------------------------


async def bench_takeover(url: str, rounds: int, *, follow: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp, MockModel() as mock:
        root = Path(tmp)
        samples = []
        for n in range(rounds):
            a = await _server(root, f"a{n}", mock, url)
            b = await _server(root, f"b{n}", mock, url)
            try:
                mock.enqueue(text("first"))
                tid = (await a.client.request("thread/start", {}))["thread"]["id"]
                await a.client.request(
                    "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "one"}]}
                )
                await a.client.wait_for_notification("turn/completed", timeout=30)
                gate = Gate()
                mock.enqueue(text("never finishes", chunks=4, gate=gate))
                turn = await a.client.request(
                    "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "two"}]}
                )
                await a.client.wait_for_notification("item/started", timeout=30)
                if follow:  # B's client follows the thread (relayed) before the kill
                    await b.client.request("thread/resume", {"threadId": tid})
                os.kill(a.proc.pid, signal.SIGKILL)
                killed = time.monotonic()
                if follow:  # B takes it over by itself; its client sees the turn end
                    await b.client.wait_for_notification(
                        "turn/completed",
                        timeout=30,
                        predicate=lambda p, t=turn["turn"]["id"]: p["turn"]["id"] == t,
                    )
                else:
                    while True:
                        answer = await b.client.call("thread/resume", {"threadId": tid})
                        if "result" in answer:
                            break
                        if time.monotonic() - killed > 30:
                            raise RuntimeError(f"no takeover: {answer}")
                        await asyncio.sleep(0.01)
                samples.append((time.monotonic() - killed) * 1000)
                gate.set()
            finally:
                await b.stop()
                await a.stop()
        what = (
            "B's following client told the open turn ended, B owning the thread"
            if follow
            else "thread/resume on B accepted"
        )
        print(
            f"takeover after SIGKILL ({rounds} rounds): p50 {statistics.median(samples):.0f} ms, "
            f"max {max(samples):.0f} ms ({what})"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an existing database (default: a throw-away cluster)")
    parser.add_argument("--only", choices=["list", "stream", "takeover"])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--deltas", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["postgres", "local"], default="postgres")
    parser.add_argument(
        "--follow", action="store_true", help="each thread also followed from the next server"
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between deltas")
    args = parser.parse_args()
    cluster = None
    url = args.url
    if url is None:
        cluster = start_cluster()
        if cluster is None:
            sys.exit("PostgreSQL is not installed (initdb not found)")
    try:
        def fresh(prefix: str) -> str:
            assert cluster is not None or url is not None
            return cluster.new_database(prefix) if cluster is not None else str(url)

        if args.only in (None, "list"):
            await bench_list(fresh("list"), [int(s) for s in args.sizes.split(",")], args.repeats)
        if args.only in (None, "stream"):
            target = fresh("stream") if args.store == "postgres" else None
            servers = args.servers if target else 1
            await bench_stream(
                target, servers, args.threads, args.deltas, follow=args.follow, delay=args.delay
            )
        if args.only in (None, "takeover"):
            await bench_takeover(fresh("takeover"), args.rounds, follow=args.follow)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
