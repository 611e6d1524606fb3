"""Base model and serialization helper shared by every v2 wire type.

v2 messages use camelCase member names; Python code uses snake_case. The
alias generator bridges the two, and a handful of members that Codex keeps in
snake_case on the wire carry explicit aliases in their own models.

Codex writes explicit ``null`` for optional members, so :func:`dump_wire`
keeps ``None`` values. A few optional members are *not* nullable in the
schema (they may be absent but never ``null``); a model lists those in
``_omit_when_none`` and they are dropped from the output while ``None``.
"""

from functools import lru_cache
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SerializationInfo, SerializerFunctionWrapHandler
from pydantic import model_serializer as _model_serializer
from pydantic import model_validator as _model_validator
from pydantic.alias_generators import to_camel as _pydantic_to_camel

to_camel = lru_cache(maxsize=None)(_pydantic_to_camel)
"""pydantic's snake_case -> camelCase alias, remembered per name: hundreds of wire classes
repeat the same field names (``thread_id``, ``turn_id``...), each converted with regular
expressions when its class is created (about 7 % of creating the ~170 classes a first
``thread/list`` imports)."""


class WireModel(BaseModel):
    """Base of every v2 wire model: camelCase aliases, unknown members ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        protected_namespaces=(),
        # Each model's validator and serializer are built when it is first used, not when
        # its module is imported: a process builds the few hundred it touches, start-up none.
        defer_build=True,
    )

    # Python names of optional members that must be left out rather than sent as null.
    _omit_when_none: ClassVar[frozenset[str]] = frozenset()
    # Groups of members of which at least one group must be fully set (``url`` or ``fileId``).
    _alternatives: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @_model_validator(mode="after")
    def _check_alternatives(self) -> "WireModel":
        groups = type(self)._alternatives
        if groups and not any(all(getattr(self, n) is not None for n in g) for g in groups):
            wanted = " or ".join("+".join(g) for g in groups)
            raise ValueError(f"{type(self).__name__} needs {wanted}")
        return self

    @_model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        omit = type(self)._omit_when_none
        if not omit or not isinstance(data, dict):
            return data
        fields = type(self).model_fields
        for name in omit:
            if getattr(self, name, None) is not None:
                continue
            field = fields.get(name)
            key = name
            if info.by_alias and field is not None:
                key = field.serialization_alias or field.alias or name
            data.pop(key, None)
        return data

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A model that omits nothing and has no alternatives drops the two hooks above
        (no-ops for it) before its deferred schema is built: that spares a Python call for
        every instance validated or serialized (an 8,000-turn thread's turns serialize in
        a fifth of the time). A subclass gets them back from ``WireModel`` when it needs them."""
        super().__pydantic_init_subclass__(**kwargs)
        decorators = cls.__pydantic_decorators__
        if not cls._omit_when_none:
            decorators.model_serializers.pop("_drop_absent", None)
        if not cls._alternatives:
            decorators.model_validators.pop("_check_alternatives", None)


def dump_wire(model: BaseModel) -> dict[str, Any]:
    """Serialize ``model`` as it goes on the wire: camelCase keys, JSON values, nulls kept."""
    out = model.model_dump(mode="json", by_alias=True)
    if not isinstance(out, dict):  # pragma: no cover - every wire model is an object
        raise TypeError(f"{type(model).__name__} does not serialize to a JSON object")
    return out


class Empty(WireModel):
    """A message whose body is an empty JSON object (``{}``)."""


__all__ = ["Empty", "WireModel", "dump_wire"]
