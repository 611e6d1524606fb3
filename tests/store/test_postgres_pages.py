"""Paged history of a PostgreSQL thread (``store/postgres_pages.py``) on a real cluster:

* for real rollouts (the Codex 0.169 reference sessions, the Codex rollouts of the e2e
  data, threadline-written ones with implicit turns and a rollback), the turn ids and
  every turn read by page equal a whole read of the same file;
* a page reads only its turns' lines: with an earlier turn's lines mangled behind the
  store's back, the newest turn still reads as before while a whole read changes;
* the saved index is extended when the history grows and rebuilt when it is started
  again (a new generation), and deleting the thread deletes it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.store._rollouts import write_rollout
from tests.support.postgres import pg_database_url

from threadline.protocol.rollout import EventMsg
from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout
from threadline.store.postgres import PostgresThreadStore
from threadline.store.postgres_transfer import import_rollout

REFERENCE = Path("/work/shared/reference/codex-0.169.0/rollouts/sessions")
E2E_DATA = Path(__file__).resolve().parents[1] / "e2e" / "data"


def _real_rollouts() -> list[Path]:
    found = sorted(REFERENCE.rglob("rollout-*.jsonl")) if REFERENCE.is_dir() else []
    return found + sorted(E2E_DATA.glob("codex_0169_*.jsonl"))


@pytest.fixture
def url() -> str:
    return pg_database_url("pages")


@pytest.fixture
async def store(url: str, tmp_path: Path) -> AsyncIterator[PostgresThreadStore]:
    async with PostgresThreadStore(url, tmp_path / "home") as opened:
        yield opened


def _wire(turns: list[Any]) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json", by_alias=True) for t in turns]


async def _import(store: PostgresThreadStore, source: Path, tmp_path: Path) -> str:
    """``source`` copied under a scratch home's sessions/ (import reads it there), imported."""
    day = tmp_path / "src" / "sessions" / "2026" / "11" / "25"
    day.mkdir(parents=True, exist_ok=True)
    copy = day / source.name
    shutil.copy(source, copy)
    return await import_rollout(store, copy)


async def _assert_pages_equal_whole_read(
    store: PostgresThreadStore, thread_id: str, source: Path
) -> None:
    whole = reconstruct(read_rollout(source)).turns
    ref = await store.locate(thread_id)
    ids = await store.turn_ids(ref)
    assert ids == [t.id for t in whole], source.name
    paged = await store.read_turns(ref, list(range(len(ids))))
    assert _wire(paged) == _wire(whole), source.name
    # Out of order and one at a time, as pages ask.
    for position in reversed(range(len(ids))):
        [one] = await store.read_turns(ref, [position])
        assert _wire([one]) == _wire([whole[position]]), (source.name, position)


async def test_pages_of_real_rollouts_equal_a_whole_read(
    store: PostgresThreadStore, tmp_path: Path
) -> None:
    sources = _real_rollouts()
    assert sources, "no reference rollouts found"
    for source in sources:
        thread_id = await _import(store, source, tmp_path)
        await _assert_pages_equal_whole_read(store, thread_id, source)


async def test_pages_of_implicit_turns_and_a_rollback_equal_a_whole_read(
    store: PostgresThreadStore, tmp_path: Path
) -> None:
    home = tmp_path / "written"
    _, plain = await write_rollout(home, turns=5, context_prefix=False)
    with plain.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({
            "timestamp": "2026-03-01T12:10:00.000Z", "type": "event_msg",
            "payload": {"type": "thread_rolled_back", "num_turns": 2},
        }) + "\n")
        # Lines outside any task_started: an implicit turn.
        handle.write(json.dumps({
            "timestamp": "2026-03-01T12:11:00.000Z", "type": "event_msg",
            "payload": {"type": "user_message", "message": "no task around me",
                        "images": [], "local_images": [], "text_elements": []},
        }) + "\n")
    thread_id = await _import(store, plain, tmp_path)
    await _assert_pages_equal_whole_read(store, thread_id, plain)
    ids = await store.turn_ids(await store.locate(thread_id))
    assert len(ids) == 4  # 5 turns, 2 rolled back, 1 implicit


async def test_a_page_reads_only_its_own_lines(
    store: PostgresThreadStore, url: str, tmp_path: Path
) -> None:
    _, path = await write_rollout(tmp_path / "written", turns=4)
    thread_id = await _import(store, path, tmp_path)
    ref = await store.locate(thread_id)
    ids = await store.turn_ids(ref)  # builds and saves the index
    [newest] = await store.read_turns(ref, [len(ids) - 1])
    with psycopg.connect(url, autocommit=True) as conn:
        # The first turn's agent message made unreadable behind the store's back (no new
        # generation, same line count: the saved index stays current). A whole read
        # skips the line, so the item numbering of every later turn moves; a page of the
        # newest turn reads none of the first turn's lines and answers as before.
        conn.execute(
            "UPDATE tl_lines SET line = 'not json' WHERE thread_id = %s AND seq = ("
            "SELECT min(seq) FROM tl_lines WHERE thread_id = %s AND line LIKE %s)",
            (thread_id, thread_id, '%"type":"agent_message"%'),
        )
    [again] = await store.read_turns(ref, [len(ids) - 1])
    assert _wire([again]) == _wire([newest])
    whole = (await store.load_history(ref)).recon.turns
    assert _wire(whole[-1:]) != _wire([newest])


async def test_the_saved_index_is_extended_rebuilt_and_deleted(
    store: PostgresThreadStore, url: str, tmp_path: Path
) -> None:
    _, path = await write_rollout(tmp_path / "written", turns=3)
    thread_id = await _import(store, path, tmp_path)
    ref = await store.locate(thread_id)

    def saved() -> tuple[int, int] | None:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT generation, scanned_to FROM tl_turn_index WHERE thread_id = %s",
                (thread_id,),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    assert saved() is None  # built on the first paged read, not on import
    assert len(await store.turn_ids(ref)) == 3
    generation, covered = saved() or (-1, -1)
    # The history grows (another turn): the index is extended over the new lines.
    turn = "extra-turn"
    await store.append_items(ref, [
        EventMsg(type="task_started", turn_id=turn, model_context_window=200_000),
        EventMsg(type="task_complete", turn_id=turn, last_agent_message=None),
    ])
    ids = await store.turn_ids(ref)
    assert ids[-1] == turn
    grown = saved()
    assert grown is not None and grown[0] == generation and grown[1] > covered
    # Started again (a new generation): rebuilt from the new lines alone.
    meta = (await store.load_history(ref)).meta
    await store.new_history(meta, ref.path or Path("/x"))
    assert await store.turn_ids(ref) == []
    rebuilt = saved()
    assert rebuilt is not None and rebuilt == (generation + 1, 1)
    assert await store.delete_thread(thread_id) == 1
    assert saved() is None
