"""``protocol.v2.thread``'s lazy ``turns``/``item`` fields (``protocol.v2.lazy_fields``)
validate and serialize as the real types did (``list[Turn]``, ``ThreadItem``), byte for
byte on real rollouts, and a thread without turns loads neither ``turn.py`` nor ``item.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from bench.persistence import rollout_text
from pydantic import ValidationError

from threadline.protocol.jsonrpc import dumps_line, encode_response, encode_response_line
from threadline.protocol.v2 import lazy_fields
from threadline.protocol.v2.item import ThreadItem
from threadline.protocol.v2.thread import (
    Thread,
    ThreadReadResponse,
)
from threadline.protocol.v2.thread_ops import (
    ThreadItemEntry,
    ThreadItemsListResponse,
    ThreadTurnsListResponse,
    TurnsPage,
)
from threadline.protocol.v2.turn import Turn, TurnItemsView
from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")
THREAD = "019f0000-0000-7000-8000-0000000000c4"


class OldThread(Thread):
    turns: list[Turn]  # type: ignore[assignment]


class OldReadResponse(ThreadReadResponse):
    thread: OldThread


class OldTurnsList(ThreadTurnsListResponse):
    data: list[Turn]  # type: ignore[assignment]


class OldTurnsPage(TurnsPage):
    data: list[Turn]  # type: ignore[assignment]


class OldEntry(ThreadItemEntry):
    item: ThreadItem  # type: ignore[assignment]


def _rollouts(tmp: Path) -> list[Path]:
    generated = tmp / f"rollout-2027-06-01T00-00-00-{THREAD}.jsonl"
    generated.write_text(rollout_text(THREAD, datetime(2027, 6, 1, tzinfo=UTC), turns=40,
                                      reply_chars=300, text="Lazy \u00e9\U0001f600", cwd="/w"),
                         encoding="utf-8")
    found = sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []
    return [*found, generated]


def _fields(turns: list[Any]) -> dict[str, Any]:
    return {
        "id": THREAD, "preview": "p", "ephemeral": False, "model_provider": "mock",
        "created_at": 1, "updated_at": 2, "status": {"type": "notLoaded"}, "path": "/p",
        "cwd": "/w", "cli_version": "0.1.0", "source": "vscode", "turns": turns,
        "session_id": THREAD,
    }


def _dumps(model: Any) -> list[Any]:
    return [
        model.model_dump_json(by_alias=True),
        model.model_dump(mode="json", by_alias=True),
        model.model_dump(mode="json"),
        json.dumps(model.model_dump(by_alias=True), default=str),
    ]


def test_threads_turns_and_items_serialize_as_the_real_types(tmp_path: Path) -> None:
    checked = 0
    for number, path in enumerate(_rollouts(tmp_path)):
        turns = reconstruct(read_rollout(path)).turns
        new, old = Thread(**_fields(list(turns))), OldThread(**_fields(list(turns)))
        assert _dumps(new) == _dumps(old), path.name
        line = encode_response_line(number, ThreadReadResponse(thread=new))
        old_line = dumps_line(encode_response(
            number, OldReadResponse(thread=old).model_dump(by_alias=True, mode="json")))
        assert line is not None and dumps_line(line) == old_line, path.name
        # What a client sends back validates to the same turns as before.
        wire = old.model_dump(mode="json", by_alias=True)
        again = Thread.model_validate(wire)
        assert again.turns == OldThread.model_validate(wire).turns
        assert all(type(t) is Turn for t in again.turns)
        assert _dumps(ThreadTurnsListResponse(data=list(turns))) == _dumps(
            OldTurnsList(data=list(turns)))
        assert _dumps(TurnsPage(data=list(turns), next_cursor="c")) == _dumps(
            OldTurnsPage(data=list(turns), next_cursor="c"))
        for turn in turns:
            for item in turn.items:
                entry = ThreadItemEntry(item=item, turn_id=turn.id)
                assert _dumps(entry) == _dumps(OldEntry(item=item, turn_id=turn.id))
                as_dict = ThreadItemEntry.model_validate(entry.model_dump(by_alias=True))
                assert as_dict.item == item and type(as_dict.item) is type(item)
                checked += 1
        listed = ThreadItemsListResponse(data=[ThreadItemEntry(item=i, turn_id=t.id)
                                               for t in turns for i in t.items])
        assert len(listed.model_dump(by_alias=True)["data"]) == sum(len(t.items) for t in turns)
    assert checked > 80


def test_bad_turns_and_items_are_refused() -> None:
    with pytest.raises(ValidationError):
        Thread(**_fields([{"id": "t"}]))  # a turn without its members
    with pytest.raises(ValidationError):
        Thread(**_fields("not a list"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ThreadItemEntry.model_validate({"item": {"type": "noSuchItem"}, "turnId": "t"})
    empty = Thread(**_fields([]))
    assert empty.turns == [] and empty.model_dump(by_alias=True)["turns"] == []


def test_the_items_view_alias_is_turns() -> None:
    assert get_args(lazy_fields.TurnItemsView) == get_args(TurnItemsView)


def test_a_listed_thread_loads_no_turn_or_item_module() -> None:
    code = (
        "import sys\n"
        "from threadline.protocol.v2.thread import Thread, ThreadListResponse\n"
        f"t = Thread(**{_fields([])!r})\n"
        "out = ThreadListResponse(data=[t]).model_dump_json(by_alias=True)\n"
        "assert '\"turns\":[]' in out, out\n"
        "loaded = [m for m in ('threadline.protocol.v2.turn', 'threadline.protocol.v2.item')"
        " if m in sys.modules]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
