"""A pydantic ``TypeAdapter`` built on its first use, once, under a lock.

A module-level ``TypeAdapter(Union)`` builds the validator of every member at import: tens
of milliseconds of every process start, paid even by a process that never validates one
(``initialize``, ``thread/list``). pydantic's own ``defer_build`` adapter is not safe to
build from two threads at once (the start-up warm-up thread and a request); this one
builds the adapter completely, under its lock, the first time a method is called.

An adapter of a type that names a deferred model (``list[Turn]``) generates that model's
schema inline and leaves the model itself unbuilt: the first time one of its instances
is serialized (by the model's own serializer, as a ``list[Any]`` field does) the same
schema is generated again. ``built_first`` names models to complete before the adapter
is built, which then reuses their schemas: each is generated once.
"""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter

T = TypeVar("T")

__all__ = ["LazyTypeAdapter"]


class LazyTypeAdapter(Generic[T]):
    """The ``validate_python``/``dump_python`` of ``TypeAdapter(type_)``, built on first use."""

    def __init__(self, type_: Any, *, built_first: tuple[type[BaseModel], ...] = ()) -> None:
        self._type = type_
        self._built_first = built_first
        self._adapter: TypeAdapter[T] | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the adapter has been built (by a first use)."""
        return self._adapter is not None

    @property
    def adapter(self) -> TypeAdapter[T]:
        """The built ``TypeAdapter`` (built now if it is not yet)."""
        adapter = self._adapter
        if adapter is None:
            with self._lock:
                adapter = self._adapter
                if adapter is None:
                    for model in self._built_first:
                        model.model_rebuild()  # nothing to do when it is built already
                    adapter = TypeAdapter(self._type)
                    self._adapter = adapter
        return adapter

    def validate_python(self, data: Any, **kwargs: Any) -> T:
        return self.adapter.validate_python(data, **kwargs)

    def dump_python(self, value: T, **kwargs: Any) -> Any:
        return self.adapter.dump_python(value, **kwargs)
