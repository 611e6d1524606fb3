"""``reconstruct(lazy_history=True)``: the model history a non-resume load builds only
when read, equal to the eager one, on Codex 0.169's reference rollouts and on a rollout
with a rollback; the local store's non-resume loads use it."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from threadline.protocol.items import dump_response_item
from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout
from threadline.store.base import StoredRef
from threadline.store.rollouts import load_history

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")


def _references() -> list[Path]:
    return sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []


def _with_rollback(tmp: Path) -> Path:
    """A reference rollout, its turns repeated, then the last two rolled back."""
    source = _references()[0]
    lines = source.read_text(encoding="utf-8").splitlines()
    body = [raw for raw in lines[1:] if json.loads(raw).get("type") != "session_meta"]
    stamp = json.loads(lines[-1])["timestamp"]
    rollback = {"timestamp": stamp, "type": "event_msg",
                "payload": {"type": "thread_rolled_back", "num_turns": 2}}
    path = tmp / source.name
    path.write_text("\n".join([lines[0], *body, *body, *body, json.dumps(rollback)]) + "\n",
                    encoding="utf-8")
    return path


def _dumped(items: list) -> list:  # type: ignore[type-arg]
    return [dump_response_item(item) for item in items]


def test_lazy_history_equals_the_eager_one(tmp_path: Path) -> None:
    paths = _references()
    if not paths:
        pytest.skip("no reference rollouts here")
    paths.append(_with_rollback(tmp_path))
    for path in paths:
        eager = reconstruct(read_rollout(path))
        rollout = read_rollout(path)
        lazy = reconstruct(rollout, lazy_history=True)
        assert lazy._history is None  # not built yet
        rollout.lines.clear()  # built from its own copy of the lines
        assert _dumped(lazy.history) == _dumped(eager.history), path.name
        assert lazy.history is lazy.history  # built once
        assert lazy.turns == eager.turns and lazy.token_info == eager.token_info
    assert len(eager.history) > 0


def test_a_read_load_builds_no_history_until_asked(tmp_path: Path) -> None:
    paths = _references()
    if not paths:
        pytest.skip("no reference rollouts here")
    path = tmp_path / paths[0].name
    shutil.copy(paths[0], path)
    eager = reconstruct(read_rollout(path))
    assert eager.thread_id is not None
    stored = asyncio.run(load_history(StoredRef(eager.thread_id, path)))
    assert stored.recon._history is None
    assert _dumped(stored.recon.history) == _dumped(eager.history)
    assert len(eager.history) > 0
