"""The lazy ``turns``/``item`` fields (``protocol.v2.lazy_fields``) are serialized by
pydantic-core's inference, not by a Python function: ``PlainValidator``'s default
function-wrap serializer, writing JSON, dumps a resume's whole turn list to Python
objects first. The bytes and dumps stay those of the real types (``list[Turn]``,
``ThreadItem``), checked here on the reference rollouts and a generated one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic_core
from bench.persistence import rollout_text
from pydantic import BaseModel

from threadline.protocol.v2.item import ThreadItem
from threadline.protocol.v2.lazy_fields import LazyThreadItem, LazyTurnList
from threadline.protocol.v2.thread import Thread
from threadline.protocol.v2.thread_ops import ThreadItemEntry
from threadline.protocol.v2.turn import Turn
from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")
THREAD = "019f0000-0000-7000-8000-0000000000c5"


class _Lazy(BaseModel):
    turns: LazyTurnList


class _Real(BaseModel):
    turns: list[Turn]


class _LazyItem(BaseModel):
    item: LazyThreadItem


class _RealItem(BaseModel):
    item: ThreadItem


def _serialization(model: type[BaseModel], name: str) -> Any:
    schema: Any = model.__pydantic_core_schema__
    while schema["type"] != "model-fields":
        schema = schema["schema"]
    field = schema["fields"][name]["schema"]
    while field["type"] in ("default", "nullable"):
        field = field["schema"]
    return field.get("serialization")


def test_the_lazy_fields_run_no_python_serializer() -> None:
    for model, field in ((Thread, "turns"), (ThreadItemEntry, "item"), (_Lazy, "turns"),
                         (_LazyItem, "item")):
        assert _serialization(model, field) == {"type": "any"}, (model, field)


def test_the_dumps_are_those_of_the_real_types(tmp_path: Path) -> None:
    generated = tmp_path / f"rollout-2027-06-01T00-00-00-{THREAD}.jsonl"
    generated.write_text(rollout_text(THREAD, datetime(2027, 6, 1, tzinfo=UTC), turns=30,
                                      reply_chars=300, text="Lazy \u00e9\U0001f600", cwd="/w"),
                         encoding="utf-8")
    refs = sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []
    checked = 0
    for path in [generated, *refs]:
        turns = reconstruct(read_rollout(path)).turns
        items = [item for turn in turns for item in turn.items]
        pairs: list[tuple[BaseModel, BaseModel]] = [(_Lazy(turns=turns), _Real(turns=turns))]
        pairs += [(_LazyItem(item=item), _RealItem(item=item)) for item in items[:60]]
        for lazy, real in pairs:
            assert pydantic_core.to_json({"id": 1, "result": lazy}) == pydantic_core.to_json(
                {"id": 1, "result": real})
            assert lazy.model_dump_json(by_alias=True) == real.model_dump_json(by_alias=True)
            for mode in ("json", "python"):
                assert lazy.model_dump(mode=mode, by_alias=True) == real.model_dump(
                    mode=mode, by_alias=True), (path.name, mode)
        checked += bool(turns)
    assert checked >= 1 + (1 if refs else 0)
