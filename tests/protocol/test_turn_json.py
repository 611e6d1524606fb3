"""``protocol.v2.turn_json``: turns checked as wire JSON give the very bytes (and the same
refusals) as ``list[Turn]`` validated into models and dumped, on random turns generated
from the models' own schema (every item kind, nulls, omitted and misspelt members, members
by their Python names, wrong JSON types), and a ``TurnsJson`` behaves as the list of
models it stands for."""

from __future__ import annotations

import random
from typing import Any

import pydantic_core
import pytest
from pydantic import ValidationError

from threadline.protocol.v2 import Thread
from threadline.protocol.v2.turn import Turn
from threadline.protocol.v2.turn_json import (
    StoredTurn,
    TurnsJson,
    check_turns,
    stored_turns,
    turns_adapter,
)

_JUNK: list[Any] = [None, 0, 7, -1, 1.5, True, "", "x", "inProgress", [], [1], {}, {"a": 1}]


class _Gen:
    """Random inputs for a core schema: mostly valid, sometimes not."""

    def __init__(self, seed: int, schema: dict[str, Any]) -> None:
        self.rng = random.Random(seed)
        self.defs: dict[str, dict[str, Any]] = {}
        self._collect(schema)

    def _collect(self, schema: Any) -> None:
        if isinstance(schema, dict):
            if "ref" in schema and schema.get("type") != "definition-ref":
                self.defs[schema["ref"]] = schema
            for value in schema.values():
                self._collect(value)
        elif isinstance(schema, list | tuple):
            for value in schema:
                self._collect(value)

    def junk(self) -> Any:
        return self.rng.choice(_JUNK)

    def value(self, schema: dict[str, Any], depth: int = 0) -> Any:
        rng = self.rng
        kind = schema["type"]
        if rng.random() < 0.03:
            return self.junk()
        if kind == "definitions":
            return self.value(schema["schema"], depth)
        if kind == "definition-ref":
            return self.value(self.defs[schema["schema_ref"]], depth)
        if kind == "str":
            return rng.choice(["", "a", "item-1", "héllo \u2028 \"q\"", "/tmp/x", "x" * 40])
        if kind == "int":
            return rng.choice([0, 1, 42, -3, 2**40, 2**70])
        if kind == "bool":
            return rng.choice([True, False])
        if kind in ("any", "none"):
            return rng.choice([None, 1, "s", [1, {"b": None}], {"k": [True, 2.5]}])
        if kind == "literal":
            return rng.choice(schema["expected"])
        if kind == "nullable":
            return None if rng.random() < 0.4 else self.value(schema["schema"], depth)
        if kind == "default":
            return self.value(schema["schema"], depth)
        if kind == "list":
            count = 0 if depth > 4 else rng.randint(0, 3)
            return [self.value(schema["items_schema"], depth + 1) for _ in range(count)]
        if kind == "dict":
            count = 0 if depth > 4 else rng.randint(0, 2)
            return {f"k{n}": self.value(schema["values_schema"], depth + 1) for n in range(count)}
        if kind in ("tagged-union", "union"):
            choices = schema["choices"]
            options = list(choices.values()) if isinstance(choices, dict) else [
                c if isinstance(c, dict) else c[0] for c in choices
            ]
            return self.value(rng.choice(options), depth)
        if kind == "function-after":
            return self.value(schema["schema"], depth)
        if kind == "model":
            return self.model(schema["schema"], depth)
        raise AssertionError(f"no generator for {kind}")

    def model(self, fields_schema: dict[str, Any], depth: int) -> dict[str, Any]:
        rng = self.rng
        out: dict[str, Any] = {}
        for name, field in fields_schema["fields"].items():
            inner = field["schema"]
            roll = rng.random()
            if inner["type"] == "default" and roll < 0.35:
                continue  # left to its default
            if roll < 0.02:
                continue  # a required member missing now and then
            key = field.get("validation_alias", name)
            if rng.random() < 0.2:
                key = name  # by its Python name (``populate_by_name``)
            out[key] = self.value(inner, depth + 1)
        if rng.random() < 0.1:
            out["unknownMember"] = self.junk()
        return out


def _old(raw: list[dict[str, Any]]) -> bytes | None:
    adapter = turns_adapter()
    try:
        models = adapter.validate_python(raw)
    except ValidationError:
        return None
    return adapter.dump_json(models, by_alias=True)


def _new(raw: list[dict[str, Any]]) -> bytes | None:
    try:
        checked = check_turns(raw)
    except ValidationError:
        return None
    assert checked is not None, "the turn schema can be checked as JSON"
    return pydantic_core.to_json(checked)


@pytest.mark.parametrize("seed", range(6))
def test_random_turns_give_the_models_bytes_and_refusals(seed: int) -> None:
    schema = dict(turns_adapter().core_schema)
    gen = _Gen(seed, schema)
    turn_schema = schema["items_schema"] if schema["type"] == "list" else schema
    accepted = refused = 0
    for _ in range(400):
        raw = [gen.value(turn_schema) for _ in range(gen.rng.randint(1, 3))]
        old, new = _old(raw), _new(raw)
        assert new == old, raw
        accepted += old is not None
        refused += old is None
    assert accepted > 20 and refused > 20  # both sides of the check were exercised


def _sample() -> list[dict[str, Any]]:
    return [
        {"id": "t1", "status": "completed", "items_view": "full", "items": [
            {"type": "userMessage", "id": "item-1", "content": [
                {"type": "text", "text": "hi", "text_elements": []},
                {"type": "image", "url": "https://x/y.png", "fileId": None}]},
            {"type": "agentMessage", "id": "item-2", "text": "yo", "phase": None},
            {"type": "imageGeneration", "id": "item-3", "status": "completed",
             "result": "b64", "fileId": None, "inputImages": None},
        ]},
        {"id": "t2", "status": "interrupted", "items": [], "error": {
            "message": "boom", "codexErrorInfo": {"httpConnectionFailed": {"httpStatusCode": 502}}}},
    ]


def test_a_turns_json_stands_for_its_models() -> None:
    raw = _sample()
    checked = check_turns(raw)
    assert isinstance(checked, TurnsJson)
    models = turns_adapter().validate_python(raw)
    assert len(checked) == 2 and checked.built is None
    assert pydantic_core.to_json(checked) == turns_adapter().dump_json(models, by_alias=True)
    # Dumps other than the wire's are the models' own.
    assert pydantic_core.to_jsonable_python(checked, by_alias=False) == turns_adapter().dump_python(
        models, mode="json", by_alias=False)
    assert pydantic_core.to_jsonable_python(checked, exclude_none=True) == turns_adapter(
        ).dump_python(models, mode="json", by_alias=True, exclude_none=True)
    assert checked[0] == models[0] and list(checked) == models and checked[-1:] == models[-1:]
    assert checked == models and checked.built is not None


def test_turns_read_then_changed_serialize_as_changed() -> None:
    checked = check_turns(_sample())
    assert checked is not None
    checked[1].status = "failed"  # a reader changed a model: the JSON no longer holds
    assert b'"status":"failed"' in pydantic_core.to_json(checked)


def test_a_thread_carries_turns_json_as_it_carries_models() -> None:
    raw = _sample()
    checked = check_turns(raw)
    models = turns_adapter().validate_python(raw)
    base = {"id": "th", "sessionId": "th", "preview": "", "ephemeral": False,
            "modelProvider": "openai", "createdAt": 1, "updatedAt": 1, "status": {"type": "idle"},
            "cwd": "/", "cliVersion": "0", "source": "cli", "turns": []}
    thread = Thread.model_validate(base)
    with_json = thread.model_copy(update={"turns": checked})
    with_models = thread.model_copy(update={"turns": models})
    assert with_json.model_dump_json(by_alias=True) == with_models.model_dump_json(by_alias=True)
    assert pydantic_core.to_json({"result": with_json}) == pydantic_core.to_json(
        {"result": with_models})
    assert with_json.model_dump(mode="json", by_alias=True) == with_models.model_dump(
        mode="json", by_alias=True)
    validated = Thread.model_validate({**base, "turns": checked})
    assert validated.turns is checked


# -- StoredTurn: a Turn whose items are checked JSON until read ------------------------------


def _stored(raw: list[dict[str, Any]]) -> list[Any] | None:
    try:
        turns = stored_turns(raw)
    except ValidationError:
        return None
    assert turns is not None, "the turn schema can be checked as JSON"
    return turns


@pytest.mark.parametrize("seed", range(6, 10))
def test_random_stored_turns_serialize_and_read_as_the_models(seed: int) -> None:
    schema = dict(turns_adapter().core_schema)
    gen = _Gen(seed, schema)
    accepted = 0
    for _ in range(300):
        raw = [gen.value(schema["items_schema"]) for _ in range(gen.rng.randint(1, 3))]
        old = _old(raw)
        turns = _stored(raw)
        assert (turns is None) == (old is None), raw
        if turns is None:
            continue
        accepted += 1
        assert all(type(t) is StoredTurn for t in turns)
        assert pydantic_core.to_json(turns) == old, raw  # written as they are
        models = turns_adapter().validate_python(raw)
        assert pydantic_core.to_jsonable_python(turns, by_alias=False, exclude_none=True) == (
            pydantic_core.to_jsonable_python(models, by_alias=False, exclude_none=True))
        assert [t.id for t in turns] == [m.id for m in models]
        assert all(type(t) is StoredTurn for t in turns)  # plain members read none
        assert turns[0].items == models[0].items  # reading the items makes a Turn
        assert type(turns[0]) is Turn and turns == models
        assert pydantic_core.to_json(turns) == old and turns_adapter().dump_json(
            turns, by_alias=True) == old
    assert accepted > 20


def test_a_stored_turn_behaves_as_a_turn_wherever_it_goes() -> None:
    import copy
    import warnings

    from threadline.protocol.v2.turn import TurnStartedNotification

    raw = _sample()
    models = turns_adapter().validate_python(raw)
    turns = stored_turns(raw)
    assert turns is not None
    # Put in a field typed Turn without being read: the same bytes, no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        note = TurnStartedNotification(thread_id="th", turn=turns[0])
        assert note.model_dump_json(by_alias=True) == TurnStartedNotification(
            thread_id="th", turn=models[0]).model_dump_json(by_alias=True)
        assert type(turns[0]) is StoredTurn
    # Dumped other than to the wire (by name, nulls left out), unread: the models' dump.
    for options in ({"by_alias": False}, {"exclude_none": True}, {"round_trip": True}):
        assert pydantic_core.to_jsonable_python({"t": turns[0]}, **options) == (
            pydantic_core.to_jsonable_python({"t": models[0]}, **options)), options
        assert pydantic_core.to_jsonable_python(note, **options) == (
            pydantic_core.to_jsonable_python(TurnStartedNotification(
                thread_id="th", turn=models[0]), **options)), options
    assert note.model_dump(mode="json") == TurnStartedNotification(
        thread_id="th", turn=models[0]).model_dump(mode="json")
    assert type(turns[0]) is StoredTurn
    # Stubbing a turn's items copies it without reading them.
    stub = turns[1].model_copy(update={"items": [], "items_view": "notLoaded"})
    expected = models[1].model_copy(update={"items": [], "items_view": "notLoaded"})
    assert type(turns[1]) is StoredTurn and type(stub) is Turn
    assert stub == expected and stub.model_fields_set == expected.model_fields_set
    # Anything else reads the items first.
    again = stored_turns(raw)
    assert again is not None
    assert copy.deepcopy(again[0]) == models[0] and type(again[0]) is Turn
    assert copy.copy(again[1]) == models[1] and type(again[1]) is Turn
    third = stored_turns(raw)
    assert third is not None
    assert repr(third[0]) == repr(models[0])
    assert third[1] == models[1] and models[0] == third[0]
    fourth = stored_turns(raw)
    assert fourth is not None
    fourth[0].status = "failed"
    assert type(fourth[0]) is Turn and fourth[0].items == models[0].items
    assert fourth[1].model_dump() == models[1].model_dump()
    assert fourth[1].model_copy(update={"status": "failed"}).items == models[1].items
