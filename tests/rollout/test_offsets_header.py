"""``offsets_cache.current_header``: a resume's plan (``model_cut`` and ``rolled_back``) read
from a current cache file's top-level fields, without building its turn spans. It must
give the plan the whole index gives, and be the whole index (``current_index``) whenever
the cache file is missing, stale, malformed or of another version, or the index is
already in memory.

Compared on Codex's own rollouts, the e2e data files, a bench rollout and crafted ones
(an intact compaction, a legacy one, a rollback after a compaction, a compaction in the
open last turn); through ``load_history`` too (what ``thread/resume`` runs).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.persistence import rollout_text
from tests.support.crafted_rollout import CraftedRollout

from threadline.rollout.offsets import OffsetIndex, model_cut
from threadline.rollout.offsets_cache import current_header, current_index, forget_cached

REFERENCE = Path("/work/shared/reference/codex-0.169.0/rollouts/sessions")
DATA = Path(__file__).resolve().parents[1] / "e2e" / "data"
THREAD = "019a0000-0000-7000-8000-0000000000ef"
HEADER = ("path", "inode", "size", "mtime_ns", "scanned_to", "compacted", "rolled_back",
          "last_started", "unsupported", "version")


def _crafted(tmp: Path) -> list[Path]:
    c = CraftedRollout(THREAD, compact=True)
    replaced = c.rec("compacted", {"message": "sum", "replacement_history": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "kept"}]}]})
    legacy = c.rec("compacted", {"message": "summary only"})
    rollback = c.ev("thread_rolled_back", num_turns=1)
    bodies = {
        "compacted": [*c.turn("t1", "one"), replaced, *c.turn("t2", "two", tokens=40)],
        "legacy": [*c.turn("t1", "one"), legacy, *c.turn("t2", "two")],
        "rollback-after": [*c.turn("t1", "one"), replaced, *c.turn("t2", "two"), rollback,
                           *c.turn("t3", "three")],
        "open-compaction": [*c.turn("t1", "one"), *c.turn("t2", "two", end=False), replaced],
        "plain": [*c.turn("t1", "one", tokens=10), *c.turn("t2", "two", tokens=20)],
    }
    return [c.write(tmp, name, body) for name, body in bodies.items()]


def _rollouts(tmp: Path) -> list[Path]:
    source = tmp / "source"
    source.mkdir()
    bench = source / f"rollout-2027-06-01T00-00-00-{THREAD}.jsonl"
    bench.write_text(rollout_text(THREAD, datetime(2027, 6, 1, tzinfo=UTC), turns=40,
                                  reply_chars=300, text="plan me", cwd="/w"), encoding="utf-8")
    found = sorted(REFERENCE.rglob("rollout-*.jsonl")) if REFERENCE.is_dir() else []
    data = sorted(DATA.rglob("*.jsonl")) if DATA.is_dir() else []
    copies = []
    for n, path in enumerate([*found, *data]):  # copies: the cache is keyed by path
        copy = source / f"{n:03d}-{path.name}"
        shutil.copyfile(path, copy)
        copies.append(copy)
    return [*copies, bench, *_crafted(source)]


def _plan(index: OffsetIndex) -> tuple[bool, bool]:
    return bool(model_cut(index)), index.rolled_back is not None


def test_header_gives_the_whole_indexs_plan(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plans = set()
    paths = _rollouts(tmp_path)
    assert len(paths) > 8
    for path in paths:
        forget_cached()
        whole = current_index(path, cache)  # scans and writes the cache file
        forget_cached()
        header = current_header(path, cache)
        assert header is not whole and header.turns == [] and header.open is None, path
        assert [getattr(header, name) for name in HEADER] == [getattr(whole, name) for name in HEADER]
        assert _plan(header) == _plan(whole), path
        plans.add(_plan(whole))
    assert plans >= {(False, False), (True, False), (False, True)}  # each kind of plan came up


def test_header_is_the_whole_index_unless_a_current_cache_file_says(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = _crafted(tmp_path)[0]
    forget_cached()
    whole = current_index(path, cache)
    assert current_header(path, cache) is whole  # in memory: the index itself
    forget_cached()
    assert current_header(path, None).turns == whole.turns  # no cache: scanned
    [cache_file] = cache.glob("*.json")
    saved = cache_file.read_text()

    def rewritten(text: str) -> OffsetIndex:
        forget_cached()
        cache_file.write_text(text)
        return current_header(path, cache)

    for text in ("not json", "[]", saved.replace('"version":3', '"version":2'),
                 saved.replace('"inode":', '"inode":"x","was":'),
                 json.dumps({**json.loads(saved), "path": str(path) + "x"})):
        found = rewritten(text)
        assert found.turns == whole.turns and found.turns, text[:40]
    with path.open("a", encoding="utf-8") as handle:  # the file grew: stale
        handle.write(CraftedRollout(THREAD, compact=True).ev("agent_message", message="late") + "\n")
    grown = rewritten(saved)
    assert grown.turns and grown.size > whole.size


@pytest.mark.parametrize("name", ["compacted", "rollback-after", "plain"])
def test_resume_through_the_store_is_unchanged(tmp_path: Path, name: str) -> None:
    from threadline.store.base import StoredRef
    from threadline.store.rollouts import OFFSETS_CACHE_SUBDIR, load_history

    home = tmp_path / "home"
    path = next(p for p in _crafted(tmp_path) if name in p.name)
    ref = StoredRef(THREAD, path)
    forget_cached()
    current_index(path, home / OFFSETS_CACHE_SUBDIR)
    forget_cached()
    resumed = asyncio.run(load_history(ref, resume_home=home))  # plan from the header
    forget_cached()
    read = asyncio.run(load_history(ref))
    assert [t.model_dump() for t in resumed.recon.turns] == [t.model_dump() for t in read.recon.turns]
    assert resumed.recon.history == read.recon.history
    assert resumed.recon.token_info == read.recon.token_info
