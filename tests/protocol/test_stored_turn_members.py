"""``turn_json.StoredTurn`` without a ``__getattribute__`` hook: its items are a class
property and ``Turn``'s methods and properties are replaced by ones that read the items
first, so every way of reaching a turn's items (or its model behaviour) still makes it a
plain ``Turn`` first and gives what the models give, while pydantic-core's own reads
(``__dict__``, the fields set) and the plain fields leave it stored."""

from __future__ import annotations

import copy
import operator
import pickle
from collections.abc import Callable
from typing import Any

import pydantic_core
import pytest

from threadline.protocol.v2.turn import Turn
from threadline.protocol.v2.turn_json import StoredTurn, stored_turns, turns_adapter


def _raw() -> list[dict[str, Any]]:
    return [
        {"id": "t1", "status": "completed", "items_view": "full", "items": [
            {"type": "userMessage", "id": "item-1", "content": [
                {"type": "text", "text": "hi", "text_elements": []}]},
            {"type": "agentMessage", "id": "item-2", "text": "yo", "phase": None},
        ]},
        {"id": "t2", "status": "failed", "items": [
            {"type": "agentMessage", "id": "item-3", "text": "x", "phase": None}],
         "error": {"message": "boom"}},
    ]


def _fresh() -> tuple[list[Any], list[Turn]]:
    turns = stored_turns(_raw())
    assert turns is not None
    assert all(type(t) is StoredTurn for t in turns)
    return turns, turns_adapter().validate_python(_raw())


def test_no_attribute_hook_and_plain_reads_keep_it_stored() -> None:
    # A Python __getattribute__ would run for every attribute pydantic-core reads.
    assert StoredTurn.__getattribute__ is object.__getattribute__
    turns, models = _fresh()
    turn = turns[0]
    assert (turn.id, turn.status, turn.items_view, turn.error) == (
        models[0].id, models[0].status, models[0].items_view, models[0].error)
    assert type(turn.__dict__["items"][0]) is dict and vars(turn) is turn.__dict__
    assert turn.__pydantic_fields_set__ == models[0].__pydantic_fields_set__
    assert pydantic_core.to_json(turns) == turns_adapter().dump_json(models, by_alias=True)
    assert type(turn) is StoredTurn and type(turn.__dict__["items"][0]) is dict


_READS: dict[str, Callable[[Any], Any]] = {
    "items": lambda t: t.items,
    "attrgetter items": operator.attrgetter("items"),
    "model_dump": lambda t: t.model_dump(),
    "model_dump json": lambda t: t.model_dump(mode="json", exclude_none=True),
    "model_dump_json": lambda t: t.model_dump_json(by_alias=True),
    "dict": lambda t: t.dict(),
    "repr_args": lambda t: list(t.__repr_args__()),
    "rich_repr": lambda t: list(t.__rich_repr__()),
    "str": str,
    "format": lambda t: f"{t}",
    "iter": lambda t: dict(t),
    "fields_set": lambda t: t.model_fields_set,
    "extra": lambda t: t.model_extra,
    "getstate": lambda t: t.__getstate__()["__dict__"],
    "pickle": lambda t: pickle.loads(pickle.dumps(t)),
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "replace": lambda t: t.__replace__(status="interrupted"),
    "model_copy": lambda t: t.model_copy(update={"status": "interrupted"}),
}


@pytest.mark.parametrize("name", sorted(_READS))
def test_every_other_read_makes_a_turn_first(name: str) -> None:
    read = _READS[name]
    turns, models = _fresh()
    got = read(turns[1])
    assert type(turns[1]) is Turn, name
    assert type(turns[1].__dict__["items"][0]) is not dict
    assert got == read(models[1]), name
    if isinstance(got, Turn):
        assert type(got) is Turn and got.items == models[1].items
    assert type(turns[0]) is StoredTurn  # its neighbour is not read
