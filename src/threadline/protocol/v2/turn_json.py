"""Turns checked against their models' schema but kept as their wire JSON (``TurnsJson``).

A ``thread/read`` of a long thread builds thousands of turns only to write them out once:
validating them into ``Turn`` models and serializing those again costs about twice what
checking the same data and writing plain dicts does (8,000 turns: ~58 + ~51 ms against
~29 + ~30 ms). :func:`check_turns` runs the turns' own validators (every field's type,
default, union and discriminator, the same after-checks) but builds dicts keyed by the
wire names in the models' field order, with what a model's dump leaves out already left
out: the very values ``Turn.model_dump(mode="json", by_alias=True)`` gives. That schema
is derived from ``list[Turn]``'s core schema when first used, so it cannot drift from the
models; a schema holding anything the derivation does not know (a custom validator or
serializer) refuses to be derived, and callers keep using the models.

:class:`TurnsJson` carries the checked dicts where a ``list[Turn]`` is expected by code
that only passes it on (``thread/read``'s answer): serializing it writes the dicts as
they are; any Python access to its turns builds (once) the ``Turn`` models they stand for.
:class:`StoredTurn` is the same for the turns a loaded thread keeps: a ``Turn`` whose
items stay checked JSON until Python code reads them.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast, overload

from pydantic import TypeAdapter
from pydantic_core import SchemaSerializer, SchemaValidator, core_schema
from pydantic_core.core_schema import SerializationInfo

from threadline.protocol.v2.turn import Turn, items_out, validate_items, wire_dump

__all__ = ["StoredTurn", "TurnsJson", "check_turns", "stored_turns", "turns_adapter"]

_lock = threading.RLock()
_state: dict[str, Any] = {}


def turns_adapter() -> TypeAdapter[list[Turn]]:
    """``TypeAdapter(list[Turn])``, built once after ``Turn`` (so it reuses its schema)."""
    adapter = _state.get("adapter")
    if adapter is None:
        with _lock:
            adapter = _state.get("adapter")
            if adapter is None:
                Turn.model_rebuild()
                adapter = TypeAdapter(list[Turn])
                _state["adapter"] = adapter
    return adapter  # type: ignore[no-any-return]


class Unsupported(Exception):
    """The turn schema holds something :func:`_as_wire` cannot derive a dict form of."""


_PLAIN = frozenset({
    "str", "int", "bool", "none", "any", "literal", "nullable", "list", "dict", "default",
    "tagged-union", "union", "definition-ref", "definitions",
})
"""Schema kinds whose validators give the same value whatever their parent is; a model
is rewritten (see :func:`_model`), anything else is refused."""

_INFERRED = core_schema.simple_ser_schema("any")

_FIELD_KEYS = frozenset({"type", "schema", "validation_alias", "serialization_alias", "metadata"})
_MODEL_KEYS = frozenset({"type", "cls", "schema", "config", "ref", "metadata", "custom_init",
                         "root_model", "serialization", "post_init"})


def _as_wire(schema: dict[str, Any], after: tuple[tuple[str, ...], ...] | None = None) -> Any:
    """``schema`` with every model turned into a typed dict of its wire names."""
    kind = schema.get("type")
    if kind == "model":
        return _model(schema, after)
    if kind == "function-after":
        inner = schema["schema"]
        function = schema.get("function", {}).get("function")
        if inner.get("type") != "model" or getattr(function, "__name__", "") != "_check_alternatives":
            raise Unsupported(f"function-after around {inner.get('type')}")
        out = _model(inner, inner["cls"]._alternatives)
        if "ref" in schema:
            out["ref"] = schema["ref"]
        return out
    if kind not in _PLAIN:
        raise Unsupported(str(kind))
    out = dict(schema)
    serialization = out.pop("serialization", _INFERRED)
    if serialization != _INFERRED and serialization.get("function") is not items_out:
        # (Dicts are written by inference; ``Turn.items``' serializer writes them so.)
        raise Unsupported(f"{kind} with its own serializer")
    for key in ("schema", "items_schema", "values_schema", "keys_schema"):
        if isinstance(out.get(key), dict):
            out[key] = _as_wire(out[key])
    if kind == "definitions":
        out["definitions"] = [_as_wire(d) for d in out["definitions"]]
    choices = out.get("choices")
    if isinstance(choices, dict):
        out["choices"] = {tag: _as_wire(c) for tag, c in choices.items()}
    elif isinstance(choices, list):
        out["choices"] = [
            _as_wire(c) if isinstance(c, dict) else (_as_wire(c[0]), c[1]) for c in choices
        ]
    return out


def _model(schema: dict[str, Any], alternatives: tuple[tuple[str, ...], ...] | None) -> Any:
    cls = schema["cls"]
    fields_schema = schema["schema"]
    config = schema.get("config", {})
    if set(schema) - _MODEL_KEYS or schema.get("custom_init") or schema.get("root_model") \
            or schema.get("post_init") or fields_schema.get("type") != "model-fields" \
            or fields_schema.get("computed_fields") or fields_schema.get("extras_schema") \
            or config.get("extra_fields_behavior", "ignore") != "ignore":
        raise Unsupported(f"model {cls.__name__}")
    omit_names: frozenset[str] = getattr(cls, "_omit_when_none", frozenset())
    serialization = schema.get("serialization")
    if serialization is not None and not omit_names:
        raise Unsupported(f"model {cls.__name__} with its own serializer")
    if (alternatives is None) == bool(getattr(cls, "_alternatives", ())):
        raise Unsupported(f"model {cls.__name__}: after-check")
    by_name = bool(config.get("validate_by_name"))
    wire_name: dict[str, str] = {}
    fields: dict[str, Any] = {}
    for name, field in fields_schema["fields"].items():
        if set(field) - _FIELD_KEYS:
            raise Unsupported(f"field {cls.__name__}.{name}: {sorted(set(field) - _FIELD_KEYS)}")
        key = field.get("serialization_alias", name)
        alias = field.get("validation_alias", name)
        if not isinstance(alias, str):
            raise Unsupported(f"field {cls.__name__}.{name}: alias paths")
        inner = _as_wire(field["schema"])
        lookup: Any = None
        if alias != key or (by_name and name != key):
            lookup = [[alias], [name]] if by_name and name != alias else [[alias]]
        fields[key] = core_schema.typed_dict_field(
            inner, required=inner.get("type") != "default", validation_alias=lookup
        )
        wire_name[name] = key
    out: Any = core_schema.typed_dict_schema(fields, extra_behavior="ignore", total=True)
    groups = tuple(tuple(wire_name[n] for n in group) for group in alternatives or ())
    omit = tuple(wire_name[n] for n in sorted(omit_names))
    if groups or omit:
        out = core_schema.no_info_after_validator_function(_after(cls.__name__, groups, omit), out)
    if "ref" in schema:
        out["ref"] = schema["ref"]
    return out


def _after(
    name: str, groups: tuple[tuple[str, ...], ...], omit: tuple[str, ...]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``WireModel``'s after-check (one group of ``groups`` fully set) and its serializer's
    omissions (``omit`` members that are null), on the dict."""

    def check(value: dict[str, Any]) -> dict[str, Any]:
        if groups and not any(all(value.get(k) is not None for k in g) for g in groups):
            wanted = " or ".join("+".join(g) for g in groups)
            raise ValueError(f"{name} needs {wanted}")
        for key in omit:
            if key in value and value[key] is None:
                del value[key]
        return value

    return check


def _validator() -> SchemaValidator | None:
    if "validator" not in _state:
        adapter = turns_adapter()
        with _lock:
            if "validator" not in _state:
                try:
                    validator: SchemaValidator | None = SchemaValidator(
                        _as_wire(dict(adapter.core_schema))  # type: ignore[arg-type]
                    )
                except Unsupported:
                    validator = None
                _state["validator"] = validator
    return _state["validator"]  # type: ignore[no-any-return]


def check_turns(raw: list[dict[str, Any]], *, build: bool = True) -> TurnsJson | None:
    """``raw`` (what ``list[Turn]`` would be validated from) checked and kept as wire
    JSON; ``None`` when the schema cannot be checked so, or when its validator is not
    built yet and ``build`` is off (building it costs 2-3 ms, once). Raises
    ``ValidationError`` where validating ``list[Turn]`` would."""
    if not build and "validator" not in _state:
        return None
    validator = _validator()
    if validator is None:
        return None
    return TurnsJson(validator.validate_python(raw))


def _serialize(value: TurnsJson, info: SerializationInfo) -> Any:
    """The wire dicts as they are when they are what is asked for (JSON, by alias, nothing
    excluded) and no code has read the turns (it may have changed the models it got);
    otherwise the models, as a ``list[Turn]`` is serialized."""
    models = value.built
    if wire_dump(info):
        return value.wire if models is None else models
    return turns_adapter().dump_python(
        value.turns(), mode="json" if info.mode == "json" else "python", by_alias=info.by_alias,
        include=cast(Any, info.include), exclude=cast(Any, info.exclude),
        exclude_none=info.exclude_none, exclude_unset=info.exclude_unset,
        exclude_defaults=info.exclude_defaults, round_trip=info.round_trip,
    )


class TurnsJson(Sequence[Turn]):
    """Checked turns as wire JSON (see the module docstring): read-only; reading a turn
    builds the ``Turn`` models of all of them, once."""

    __slots__ = ("_models", "wire")

    __pydantic_serializer__ = SchemaSerializer(
        core_schema.any_schema(
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize, info_arg=True
            )
        )
    )

    def __init__(self, wire: list[dict[str, Any]]) -> None:
        self.wire = wire
        """The turns' JSON (what they serialize to); not to be changed."""
        self._models: list[Turn] | None = None

    @property
    def built(self) -> list[Turn] | None:
        """The models, once something has read them (then they, not :attr:`wire`, are
        what the turns serialize as)."""
        return self._models

    def turns(self) -> list[Turn]:
        """The ``Turn`` models (validated from the checked JSON the first time)."""
        models = self._models
        if models is None:
            models = self._models = turns_adapter().validate_python(self.wire)
        return models

    def __len__(self) -> int:
        return len(self.wire)

    @overload
    def __getitem__(self, index: int) -> Turn: ...
    @overload
    def __getitem__(self, index: slice) -> list[Turn]: ...
    def __getitem__(self, index: int | slice) -> Turn | list[Turn]:
        return self.turns()[index]

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TurnsJson):
            return self.wire == other.wire
        return self.turns() == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TurnsJson({len(self.wire)} turns)"


# -- turns kept by a loaded thread ------------------------------------------------------------


def _materialize(turn: Any) -> None:
    """Make ``turn`` a plain ``Turn``: its items validated into models, its class changed
    in place (the two classes have the same layout)."""
    with _lock:
        if type(turn) is not StoredTurn:
            return
        data = turn.__dict__
        data["items"] = validate_items(data["items"])
        object.__setattr__(turn, "__class__", Turn)


class StoredTurn(Turn):
    """A ``Turn`` whose items are still their checked wire dicts (see :func:`stored_turns`).

    A resumed thread keeps its turns (paging, reads, a continued turn use them), so they
    must be ``Turn`` objects; but until Python code looks at a turn's items nothing needs
    them as models, and the thread's answer needs them only as JSON. Reading anything but
    its plain members (its other fields, ``__dict__``, ``__class__``...), copying,
    comparing or changing it first makes it a plain ``Turn``, so Python code only ever
    meets ``Turn``'s behaviour. Serialized (by ``Turn``'s own schema, wherever it is put),
    its items' dicts are written as they are to the wire and as their models for any other
    dump (``turn.items_out``). Code that reads its ``__dict__`` directly sees the dicts.

    The class has no ``__getattribute__``: pydantic-core reads a few attributes of every
    turn it serializes (``__dict__``, ``__pydantic_fields_set__``...), and a Python hook on
    each of those cost ~8 ms a resume of 8,000 turns. ``items`` is a class property (a
    data descriptor, so it is found before the instance's ``__dict__``), and each of
    ``Turn``'s own methods and properties is replaced by one that first makes the turn a
    ``Turn`` (see :func:`_read_first`); the dunders Python calls on the type are below.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        _materialize(self)
        Turn.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        _materialize(self)
        Turn.__delattr__(self, name)

    def __eq__(self, other: object) -> bool:
        _materialize(self)
        _materialize(other)
        return self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        _materialize(self)
        return repr(self)

    def __str__(self) -> str:
        _materialize(self)
        return str(self)

    def __iter__(self) -> Any:
        _materialize(self)
        return iter(self)

    def __copy__(self) -> Any:
        _materialize(self)
        return self.__copy__()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        _materialize(self)
        return self.__deepcopy__(memo)

    def __reduce_ex__(self, protocol: Any) -> Any:
        _materialize(self)
        return self.__reduce_ex__(protocol)

    def __reduce__(self) -> Any:
        _materialize(self)
        return self.__reduce__()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy that replaces the items needs no models of the old ones (a turn stubbed
        to ``notLoaded``)."""
        if update and "items" in update and not deep:
            return Turn.model_construct(
                _fields_set={*self.__pydantic_fields_set__, *update}, **{**self.__dict__, **update}
            )
        _materialize(self)
        return Turn.model_copy(self, update=update, deep=deep)


_KEEP = frozenset({
    "__init__", "__getattr__", "__setstate__", "__class_getitem__", "model_post_init",
    "model_fields", "model_computed_fields", "__fields__",
})
"""``Turn`` members a ``StoredTurn`` keeps as they are: construction and unpickling (a
pickled ``StoredTurn`` is a ``Turn``, see ``__reduce_ex__``), the missing-attribute hook
(which reads no field) and the class-level field tables."""


def _read_first(name: str, member: Any) -> Any:
    """``member`` (``Turn``'s method or property ``name``) for a ``StoredTurn``: the turn
    made a ``Turn`` first, then ``Turn``'s own member."""
    if isinstance(member, property):
        def get(self: Any) -> Any:
            _materialize(self)
            return getattr(self, name)

        return property(get, doc=member.__doc__)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        _materialize(self)
        return member(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = member.__doc__
    return method


def _items(self: Any) -> Any:
    _materialize(self)
    return self.__dict__["items"]


def _wrap_members() -> None:
    done = set(vars(StoredTurn))
    for owner in Turn.__mro__[:-1]:
        for name, member in vars(owner).items():
            if name in done or name in _KEEP or (name.startswith("_") and not name.startswith("__")):
                continue
            if isinstance(member, property) or inspect.isfunction(member):
                done.add(name)
                setattr(StoredTurn, name, _read_first(name, member))
    # Set after the class is made: pydantic refuses a field shadowed in the class body.
    StoredTurn.items = property(_items)  # type: ignore[assignment,method-assign]


_wrap_members()


def _stored_validator() -> SchemaValidator | None:
    """Validates ``list[Turn]``'s input into ``StoredTurn`` objects: ``Turn``'s schema
    with its items checked as JSON (:func:`check_turns`' schema) and serialized as they
    are (by inference). None when it cannot be derived (see :func:`_validator`)."""
    if "stored" in _state:
        return _state["stored"]  # type: ignore[no-any-return]
    schema = dict(turns_adapter().core_schema)
    with _lock:
        if "stored" in _state:
            return _state["stored"]  # type: ignore[no-any-return]
        validator: SchemaValidator | None = None
        turn = schema.get("items_schema")
        if schema.get("type") == "list" and isinstance(turn, dict) and turn.get("type") == "model":
            try:
                fields = dict(turn["schema"]["fields"])
                items = dict(fields["items"])
                checked = _as_wire(items["schema"])
                checked["serialization"] = items["schema"]["serialization"]  # items_out
                fields["items"] = {**items, "schema": checked}
                model = {**turn, "cls": StoredTurn, "ref": f"{turn['ref']}:stored",
                         "schema": {**turn["schema"], "fields": fields}}
                validator = SchemaValidator(core_schema.list_schema(model))  # type: ignore[arg-type]
                StoredTurn.__pydantic_serializer__ = SchemaSerializer(model)  # type: ignore[arg-type]
                StoredTurn.__pydantic_validator__ = SchemaValidator(model)  # type: ignore[arg-type]
                StoredTurn.__pydantic_complete__ = True
            except Unsupported:
                validator = None
        _state["stored"] = validator
    return validator


def stored_turns(raw: list[dict[str, Any]], *, build: bool = True) -> list[Turn] | None:
    """``raw`` validated as ``list[Turn]`` is, into ``StoredTurn`` objects (items kept as
    their checked JSON until Python code reads them); ``None`` when the schema cannot be
    checked so, or (as :func:`check_turns`) its validator is not built and ``build`` is
    off. Raises ``ValidationError`` where validating ``list[Turn]`` would."""
    if not build and "stored" not in _state:
        return None
    validator = _stored_validator()
    if validator is None:
        return None
    return validator.validate_python(raw)  # type: ignore[no-any-return]
