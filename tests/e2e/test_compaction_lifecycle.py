"""Compaction across a restart, in the rollout and under an interrupt (issue #12).

* The window numbering of the ``compacted`` lines goes on after ``thread/resume``: the next
  line continues from the newest one in the file (``window_number`` + 1, the same
  ``first_window_id``, ``previous_window_id`` = that line's ``window_id``), for a thread
  threadline wrote and for the rollout the real Codex 0.169 wrote (``data/
  codex_0169_compacted.jsonl``), as Codex's own lines do.
* A local compaction's answer is written as a ``response_item`` line ahead of its
  ``token_count`` and the ``compacted`` line, where Codex 0.169 writes it.
* An interrupt while the summary is being written ends the ``contextCompaction`` item
  (``item/completed``) before the turn ends ``interrupted``; the history is unchanged.

The real app-server runs in process against the mock model over HTTP; every message is
checked against the reference schema when the servers stop. Each test runs on the local
store and on PostgreSQL (``[store]`` in the home's config; rollout lines read back from
the database, the Codex rollout imported into it).
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from tests.conftest import stop_and_check
from tests.e2e.conftest import write_mock_config
from tests.support.appserver import AppServerClient
from tests.support.memory_server import InProcessServer
from tests.support.mock_model import Gate, MockModel, text, usage
from tests.support.schema import SchemaRegistry
from tests.support.stores import StoreUnderTest, both_stores

from threadline.core.compaction import compact_prompt, summary_prefix

Start = Callable[[Path], Awaitable[InProcessServer]]

WINDOW = "model_context_window = 4000\nmodel_auto_compact_token_limit = 3000\n"
BIG = usage(input=3500, output=50)
SMALL = usage(input=500, output=20)
DATA = Path(__file__).parent / "data"
CODEX_ROLLOUT = DATA / "codex_0169_compacted.jsonl"

pytestmark = both_stores


@pytest_asyncio.fixture
async def start(
    mock_model: MockModel, schema: SchemaRegistry, store: StoreUnderTest
) -> AsyncIterator[Start]:
    servers: list[InProcessServer] = []

    async def launch(home: Path) -> InProcessServer:
        write_mock_config(
            home, mock_model.base_url, request_max_retries=0, extra=WINDOW + store.config
        )
        server = InProcessServer(home)
        servers.append(server)
        await server.connect()
        return server

    yield launch
    await stop_and_check(servers)
    store.check_no_rollout_files([server.home for server in servers])


async def run_turn(client: AppServerClient, tid: str, words: str) -> dict[str, Any]:
    await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": words}]}
    )
    done = await client.wait_for_notification("turn/completed", timeout=30)
    return dict(done["params"]["turn"])


async def compact_now(client: AppServerClient, tid: str) -> dict[str, Any]:
    """``thread/compact/start`` and the turn it ran."""
    before = len(client.received("turn/completed"))
    assert await client.request("thread/compact/start", {"threadId": tid}) == {}
    while len(client.received("turn/completed")) == before:
        await client.wait_for_notification("turn/completed", timeout=30)
    return dict(client.received("turn/completed")[-1]["params"]["turn"])


def lines_of(path: Path, store: StoreUnderTest | None = None) -> list[dict[str, Any]]:
    """The lines of a rollout file, or (with ``store``) of the stored thread at ``path``."""
    if store is not None:
        return store.lines(path)
    return [json.loads(line) for line in path.read_text().splitlines()]


def windows(store: StoreUnderTest, path: Path) -> list[tuple[int, str, str, str]]:
    """``(window_number, first_window_id, previous_window_id, window_id)`` of each
    ``compacted`` line, oldest first."""
    return [
        (
            p["window_number"],
            p["first_window_id"],
            p["previous_window_id"],
            p["window_id"],
        )
        for p in (ln["payload"] for ln in lines_of(path, store) if ln["type"] == "compacted")
    ]


def input_texts(body: dict[str, Any]) -> list[str]:
    return [
        "".join(part.get("text", "") for part in item["content"])
        for item in body["input"]
        if item.get("type") == "message"
    ]


async def test_window_numbering_goes_on_after_a_resume(
    start: Start, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    home = tmp_path / "home"
    server = await start(home)
    started = await server.client.request("thread/start", {"cwd": str(tmp_path)})
    tid, path = started["thread"]["id"], Path(started["thread"]["path"])
    mock_model.enqueue(text("one", usage=SMALL), text("NOTE ONE", usage=SMALL))
    await run_turn(server.client, tid, "first")
    assert (await compact_now(server.client, tid))["status"] == "completed"
    await server.stop()
    [(number, first, previous, _)] = windows(store, path)
    assert (number, previous) == (1, first)

    again = await start(home)
    await again.client.request("thread/resume", {"threadId": tid})
    mock_model.enqueue(text("NOTE TWO", usage=SMALL))
    assert (await compact_now(again.client, tid))["status"] == "completed"
    # A second restart, and an automatic compaction this time (before the turn).
    await again.stop()
    third = await start(home)
    await third.client.request("thread/resume", {"threadId": tid})
    mock_model.enqueue(text("big", usage=BIG))
    await run_turn(third.client, tid, "grow")
    mock_model.enqueue(text("NOTE THREE", usage=SMALL), text("after", usage=SMALL))
    assert (await run_turn(third.client, tid, "go on"))["status"] == "completed"

    seen = windows(store, path)
    assert [w[0] for w in seen] == [1, 2, 3]
    assert {w[1] for w in seen} == {first}
    for older, newer in itertools.pairwise(seen):
        assert newer[2] == older[3] != newer[3]
    assert len({w[3] for w in seen} | {first}) == 4


async def test_a_codex_rollout_resumed_here_continues_codex_window_numbering(
    start: Start, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    raw = lines_of(CODEX_ROLLOUT)
    meta = raw[0]["payload"]
    codex_compacted = next(ln["payload"] for ln in raw if ln["type"] == "compacted")
    tid = meta["id"]
    home = tmp_path / "home"
    day = home / "sessions" / "2026" / "12" / "01"
    day.mkdir(parents=True)
    path = day / f"rollout-2026-12-01T14-21-33-{tid}.jsonl"
    shutil.copy(CODEX_ROLLOUT, path)
    await store.seed(path)
    server = await start(home)
    await server.client.request("thread/resume", {"threadId": tid})
    mock_model.enqueue(text("NOTE HERE", usage=SMALL))
    assert (await compact_now(server.client, tid))["status"] == "completed"
    # The history compacted here is the one Codex's line left (its summary, then the
    # turn after it), and the new line goes on from Codex's window.
    sent = input_texts(mock_model.requests[-1].body)
    assert sent[-1] == compact_prompt()
    assert sent[-3:-1] == ["hello two", "second answer"]
    assert codex_compacted["message"] in sent
    [codex_window, ours] = windows(store, path)
    assert codex_window == (
        1,
        meta["context_window"]["window_id"],
        meta["context_window"]["window_id"],
        codex_compacted["window_id"],
    )
    assert ours[0] == 2
    assert ours[1] == codex_compacted["first_window_id"]
    assert ours[2] == codex_compacted["window_id"]


async def test_the_summary_answer_is_written_where_codex_writes_it(
    start: Start, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    server = await start(tmp_path / "home")
    started = await server.client.request("thread/start", {"cwd": str(tmp_path)})
    tid, path = started["thread"]["id"], Path(started["thread"]["path"])
    mock_model.enqueue(text("first answer", usage=BIG))
    await run_turn(server.client, tid, "hello one")
    mock_model.enqueue(text("THE NOTE", usage=SMALL), text("second answer", usage=SMALL))
    await run_turn(server.client, tid, "hello two")

    def shape(line: dict[str, Any]) -> tuple[str, str | None]:
        payload = line["payload"]
        if line["type"] == "response_item":
            texts = "".join(p.get("text", "") for p in payload.get("content", []))
            return ("response_item", f"{payload.get('role')}:{texts}")
        return (line["type"], payload.get("type"))

    def around_compacted(lines: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
        at = next(i for i, ln in enumerate(lines) if ln["type"] == "compacted")
        kinds = [shape(ln) for ln in lines[:at]]
        summary = max(i for i, k in enumerate(kinds) if k[0] == "response_item")
        return [k for k in kinds[summary:] if k[0] in ("response_item", "event_msg")] + [
            shape(lines[at])
        ]

    ours = around_compacted(lines_of(path, store))
    assert ours == [
        ("response_item", "assistant:THE NOTE"),
        ("event_msg", "token_count"),
        ("compacted", None),
    ]
    codex = around_compacted(lines_of(CODEX_ROLLOUT))
    assert codex == [
        ("response_item", "assistant:SUMMARY-TEXT here"),
        ("event_msg", "token_count"),
        ("compacted", None),
    ]
    # Written to the rollout, never into the history: the next request does not carry it
    # but as the prefixed summary, and a resume rebuilds the same history.
    after = input_texts(mock_model.requests[-1].body)
    assert "THE NOTE" not in after
    assert f"{summary_prefix()}\nTHE NOTE" in after
    await server.stop()
    again = await start(tmp_path / "home")
    await again.client.request("thread/resume", {"threadId": tid})
    mock_model.enqueue(text("third answer", usage=SMALL))
    await run_turn(again.client, tid, "hello three")
    assert input_texts(mock_model.requests[-1].body) == [*after, "second answer", "hello three"]


async def test_an_interrupt_during_compaction_ends_the_item_and_the_turn(
    start: Start, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    server = await start(tmp_path / "home")
    client = server.client
    started = await client.request("thread/start", {"cwd": str(tmp_path)})
    tid, path = started["thread"]["id"], Path(started["thread"]["path"])
    mock_model.enqueue(text("first answer", usage=SMALL))
    await run_turn(client, tid, "hello")
    before = input_texts(mock_model.requests[-1].body)
    gate = Gate()
    mock_model.enqueue(text("NEVER FINISHED", usage=SMALL, gate=gate))
    assert await client.request("thread/compact/start", {"threadId": tid}) == {}
    item_started = await client.wait_for_notification(
        "item/started", predicate=lambda p: p["item"]["type"] == "contextCompaction"
    )
    turn_id = item_started["params"]["turnId"]
    await client.request("turn/interrupt", {"threadId": tid, "turnId": turn_id})
    done = await client.wait_for_notification(
        "turn/completed", predicate=lambda p: p["turn"]["id"] == turn_id, timeout=30
    )
    gate.set()
    turn = done["params"]["turn"]
    assert turn["status"] == "interrupted"
    item_id = item_started["params"]["item"]["id"]
    completed = [
        m["params"]
        for m in client.received("item/completed")
        if m["params"]["item"]["id"] == item_id
    ]
    assert len(completed) == 1
    assert completed[0]["turnId"] == turn_id
    assert completed[0]["item"]["type"] == "contextCompaction"
    # item/completed comes before turn/completed.
    def ending(msg: dict[str, Any]) -> tuple[str, str] | None:
        params = msg.get("params") or {}
        if msg.get("method") == "item/completed":
            return ("item", params["item"]["id"])
        if msg.get("method") == "turn/completed":
            return ("turn", params["turn"]["id"])
        return None

    order = [ending(r.message) for r in client.records if r.direction == "s2c"]
    assert order.index(("item", item_id)) < order.index(("turn", turn_id))
    # Nothing was compacted: no compacted line, and the next request carries the old history.
    assert not [ln for ln in lines_of(path, store) if ln["type"] == "compacted"]
    mock_model.enqueue(text("still here", usage=SMALL))
    assert (await run_turn(client, tid, "again"))["status"] == "completed"
    sent = input_texts(mock_model.requests[-1].body)
    assert sent[: len(before) + 1] == [*before, "first answer"]
    assert sent[len(before) + 1].startswith("<turn_aborted>")  # as after any interrupt
    assert sent[len(before) + 2 :] == ["again"]
    read = await client.request("thread/read", {"threadId": tid, "includeTurns": True})
    [_, interrupted, _] = read["thread"]["turns"]
    assert interrupted["status"] == "interrupted"


async def test_compact_start_during_a_turn_replaces_it(
    start: Start, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    """As the real Codex 0.169 did (probed against the mock): the running turn ends
    ``interrupted`` with the abort reason ``replaced``, no ``<turn_aborted>`` message joins
    the history, and the compaction turn that follows summarises what is there."""
    server = await start(tmp_path / "home")
    client = server.client
    started = await client.request("thread/start", {"cwd": str(tmp_path)})
    tid, path = started["thread"]["id"], Path(started["thread"]["path"])
    gate = Gate()
    mock_model.enqueue(text("slow answer", usage=SMALL, gate=gate), text("NOTE", usage=SMALL))
    running = await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "hi"}]}
    )
    first_id = running["turn"]["id"]
    await client.wait_for_notification(
        "item/completed", predicate=lambda p: p["item"]["type"] == "userMessage"
    )
    assert await client.request("thread/compact/start", {"threadId": tid}) == {}
    replaced = await client.wait_for_notification(
        "turn/completed", predicate=lambda p: p["turn"]["id"] == first_id, timeout=30
    )
    assert replaced["params"]["turn"]["status"] == "interrupted"
    gate.set()
    compacted = await client.wait_for_notification(
        "turn/completed", predicate=lambda p: p["turn"]["id"] != first_id, timeout=30
    )
    assert compacted["params"]["turn"]["status"] == "completed"
    sent = input_texts(mock_model.requests[-1].body)
    assert sent[-2:] == ["hi", compact_prompt()]
    assert not any(t.startswith("<turn_aborted>") for t in sent)
    aborted = [
        ln["payload"]
        for ln in lines_of(path, store)
        if ln["type"] == "event_msg" and ln["payload"]["type"] == "turn_aborted"
    ]
    assert [(a["turn_id"], a["reason"]) for a in aborted] == [(first_id, "replaced")]
    read = await client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert [t["status"] for t in read["thread"]["turns"]] == ["interrupted", "completed"]


async def test_a_fork_continues_its_parent_window_numbering(
    start: Start, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    """Codex 0.169 (probed against the mock) numbers a fork's first compaction after its
    parent's newest one: ``window_number`` 2, the parent's first window, and the parent's
    window as the previous one."""
    server = await start(tmp_path / "home")
    client = server.client
    started = await client.request("thread/start", {"cwd": str(tmp_path)})
    tid, parent_path = started["thread"]["id"], Path(started["thread"]["path"])
    mock_model.enqueue(text("one", usage=SMALL), text("NOTE ONE", usage=SMALL))
    await run_turn(client, tid, "first")
    await compact_now(client, tid)
    forked = await client.request("thread/fork", {"threadId": tid})
    fid, fork_path = forked["thread"]["id"], Path(forked["thread"]["path"])
    mock_model.enqueue(text("NOTE IN FORK", usage=SMALL))
    assert (await compact_now(client, fid))["status"] == "completed"
    [(_, first, _, parent_window)] = windows(store, parent_path)
    assert windows(store, fork_path)[-1][:3] == (2, first, parent_window)
