"""Field types of ``protocol.v2.thread`` that name turns and items without importing them.

``thread.py`` is what a first ``thread/list`` loads, and a listed thread's ``turns`` is
always ``[]``: typing that field ``list[Turn]`` made every process's first list import
``turn.py`` and ``item.py`` (the whole item union, ~100 classes) and build their
validators, for nothing. The types here validate like the real ones (a value is checked
by a ``TypeAdapter`` of the real type, imported and built the first time a non-empty
value arrives) and serialize each element by its own model's serializer, which is what
the real type's schema runs for an instance of it: the bytes on the wire are the same.

Type checkers see the real types (``list[Turn]``, ``ThreadItem``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import GetCoreSchemaHandler, PlainValidator, TypeAdapter
from pydantic_core import CoreSchema, core_schema

if TYPE_CHECKING:
    from threadline.protocol.v2.item import ThreadItem
    from threadline.protocol.v2.turn import Turn

__all__ = ["LazyThreadItem", "LazyTurnList", "RealType", "TurnItemsView"]

TurnItemsView = Literal["notLoaded", "summary", "full"]
"""The same alias as ``turn.TurnItemsView`` (a test checks the two agree)."""

_lock = threading.Lock()
_adapters: dict[str, TypeAdapter[Any]] = {}


def _adapter(name: str) -> TypeAdapter[Any]:
    adapter = _adapters.get(name)
    if adapter is None:
        if name == "turns":
            # The one ``list[Turn]`` adapter, built after ``Turn`` (see lazy_adapter).
            from threadline.protocol.v2.turn_json import turns_adapter

            return turns_adapter()
        with _lock:
            adapter = _adapters.get(name)
            if adapter is None:
                adapter = TypeAdapter(RealType(name).resolve())
                _adapters[name] = adapter
    return adapter


class RealType:
    """The marker in a lazy field's ``Annotated`` metadata: :meth:`resolve` imports and
    returns the type the field stands for (for code that looks at annotations)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self) -> Any:
        if self.name == "turns":
            from threadline.protocol.v2.turn import Turn

            return list[Turn]
        from threadline.protocol.v2.item import ThreadItem

        return ThreadItem


class _LazyValidator(PlainValidator):
    """``PlainValidator`` whose value is serialized as pydantic-core infers it (each turn
    or item by its own model's serializer, in Rust), not through the function-wrap
    serializer ``PlainValidator`` gives a field with none (``lambda v, h: h(v)``). That
    one, writing JSON, first dumps the whole value to Python objects and then writes
    those: for a resume's 8,000 turns, ~20 MB of dicts made and dropped per answer.
    The bytes are the same (the wrapped schema infers each element too)."""

    def __get_pydantic_core_schema__(
        self, source_type: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = dict(super().__get_pydantic_core_schema__(source_type, handler))
        schema["serialization"] = core_schema.simple_ser_schema("any")
        return cast(CoreSchema, schema)


def _turns(value: Any) -> Any:
    if type(value) is list and not value:
        return []
    from threadline.protocol.v2.turn_json import TurnsJson  # loaded with the turns

    if type(value) is TurnsJson:  # checked turns kept as JSON: taken as they are
        return value
    return _adapter("turns").validate_python(value)


def _item(value: Any) -> Any:
    return _adapter("item").validate_python(value)


if TYPE_CHECKING:
    LazyTurnList = list[Turn]
    LazyThreadItem = ThreadItem
else:
    LazyTurnList = Annotated[list[Any], _LazyValidator(_turns), RealType("turns")]
    LazyThreadItem = Annotated[Any, _LazyValidator(_item), RealType("item")]
