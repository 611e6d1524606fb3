"""Acceptance test of issue #9: SIGKILL the app-server at random points of a slowly
streamed turn, again and again on one thread, and check after every restart that

* every rollout line on disk parses (no torn or glued records),
* every item the client saw completed comes back on resume, in its turn,
* token usage is never counted twice across resume → turn → resume: each turn adds
  its usage at most once, and usage the client was told about is never lost.

The kill points come from a fixed seed, so a failure reproduces. Run on the local store
(rollout files) and on PostgreSQL (the database's lines; the advisory lock of a killed
server dies with its database session).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, text, usage
from tests.support.stores import StoreUnderTest, both_stores

pytestmark = both_stores

SEED = 20260909
KILLS = 12
TURN_TOKENS = 1000
CHUNKS = 12
DELAY_S = 0.04
EARLY = 0.15
STREAM_S = (CHUNKS + 3) * DELAY_S  # reasoning start → answer complete, roughly


def _key(item: dict[str, Any]) -> tuple[str, str]:
    kind = item["type"]
    if kind == "userMessage":
        body: Any = [c.get("text") for c in item.get("content", [])]
    elif kind == "reasoning":
        body = item.get("summary")
    else:
        body = item.get("text")
    return kind, json.dumps(body)


def _check_rollouts_parse(store: StoreUnderTest, home: Path) -> None:
    if not store.postgres:
        for path in sorted((home / "sessions").rglob("*.jsonl")):
            assert path.read_bytes().endswith(b"\n"), f"{path.name} ends mid-line"
    histories = store.histories(home)
    assert histories, "no rollout written"
    for name, lines in histories.items():
        for number, raw in enumerate(lines, 1):
            record = json.loads(raw)  # raises on a torn or glued line
            assert isinstance(record, dict) and "type" in record, f"{name}:{number}"


def _completed_items(client: AppServerClient, turn_id: str) -> list[tuple[str, str]]:
    return [
        _key(m["params"]["item"])
        for m in client.received("item/completed")
        if m["params"].get("turnId") == turn_id
    ]


def _live_totals(client: AppServerClient, turn_id: str) -> list[int]:
    return [
        m["params"]["tokenUsage"]["total"]["totalTokens"]
        for m in client.received("thread/tokenUsage/updated")
        if m["params"].get("turnId") == turn_id
    ]


async def test_sigkill_at_random_points_loses_nothing_and_counts_nothing_twice(
    launch_server: LaunchServer, mock_model: MockModel, mock_home: Path, store: StoreUnderTest
) -> None:
    rng = random.Random(SEED)
    # Stratified kill points (one per slice of the turn, in shuffled order), so every
    # phase is hit: before the stream, mid-reasoning, mid-answer, after the turn.
    points = [(slot + rng.random()) / KILLS for slot in range(KILLS)]
    rng.shuffle(points)
    mock_model.set_default(
        text(
            "a slowly streamed answer that takes a while to arrive in full",
            chunks=CHUNKS,
            delay_s=DELAY_S,
            reasoning="thinking it over",
            usage=usage(input=TURN_TOKENS - 100, output=100),
        )
    )
    seen: dict[str, list[tuple[str, str]]] = {}  # turn id -> items the client saw completed
    restored_total = 0
    told_total = 0  # the newest total a client was sent live before a kill
    thread_id: str | None = None
    for round_ in range(KILLS + 1):
        server = await launch_server()
        client = server.client
        if thread_id is None:  # a first, whole turn makes the rollout exist
            thread_id = (await client.request("thread/start", {}))["thread"]["id"]
            await client.request(
                "turn/start",
                {"threadId": thread_id, "input": [{"type": "text", "text": "warm up"}]},
            )
            await client.wait_for_notification("turn/completed", timeout=20)
            total = told_total = TURN_TOKENS
        else:
            _check_rollouts_parse(store, mock_home)
            result = await client.request("thread/resume", {"threadId": thread_id})
            turns = {t["id"]: t for t in result["thread"]["turns"]}
            for turn_id, items in seen.items():
                assert turn_id in turns or not items, f"round {round_}: turn {turn_id} lost"
                if items:
                    back = [_key(i) for i in turns[turn_id]["items"]]
                    missing = [i for i in items if i not in back]
                    assert not missing, f"round {round_}: {missing} lost from {turn_id}"
            replay = await client.wait_for_notification(
                "thread/tokenUsage/updated", predicate=lambda p, tid=thread_id: p.get("threadId") == tid
            )
            total = replay["params"]["tokenUsage"]["total"]["totalTokens"]
            # One turn ran since the last restore: it added its usage once or not at all,
            # and not less than what the client was already told.
            assert total in (restored_total, restored_total + TURN_TOKENS), (round_, total)
            assert total >= told_total, (round_, total, told_total)
        restored_total = total
        if round_ == KILLS:
            break
        started = await client.request(
            "turn/start",
            {"threadId": thread_id, "input": [{"type": "text", "text": f"question {round_}"}]},
        )
        turn_id = started["turn"]["id"]
        point = points[round_]
        if point < EARLY:  # before the model's stream has begun
            await asyncio.sleep(point * 0.3)
        else:  # from the stream's first item to a little past the turn's end
            await client.wait_for_notification(
                "item/started",
                timeout=20,
                predicate=lambda p, tid=turn_id: p.get("turnId") == tid
                and p["item"]["type"] == "reasoning",
            )
            await asyncio.sleep((point - EARLY) / (1 - EARLY) * STREAM_S * 1.6)
        os.kill(server.proc.pid, signal.SIGKILL)
        await server.proc.wait()
        await asyncio.sleep(0.05)  # let the pumps deliver what the server sent before dying
        seen[turn_id] = _completed_items(client, turn_id)
        live = _live_totals(client, turn_id)
        if live:
            told_total = max(told_total, *live)
    assert restored_total > 0, "no kill point let a turn's usage reach the disk"
    assert restored_total % TURN_TOKENS == 0
