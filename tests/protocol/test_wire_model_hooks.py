"""``WireModel``'s two per-instance hooks (members omitted while ``None``, groups of
alternatives) are dropped by the models where they would do nothing, kept where they act,
and come back in a subclass that needs them."""

from __future__ import annotations

from typing import ClassVar

import pytest

from threadline.protocol.v2.common import WireModel, dump_wire
from threadline.protocol.v2.turn import Turn


def test_wire_models_keep_their_hooks_only_where_they_act() -> None:
    class Plain(WireModel):
        some_value: int | None = None

    class Omits(Plain):
        _omit_when_none: ClassVar[frozenset[str]] = frozenset({"some_value"})

    class Again(Omits):
        other: str | None = None

    class Either(WireModel):
        _alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("left",), ("right",))
        left: int | None = None
        right: int | None = None

    assert "_drop_absent" not in Turn.__pydantic_decorators__.model_serializers
    assert "_check_alternatives" not in Turn.__pydantic_decorators__.model_validators
    assert dump_wire(Plain()) == {"someValue": None}
    assert dump_wire(Omits()) == {}
    assert dump_wire(Again()) == {"other": None}  # inherited from a class that omits
    assert dump_wire(Omits(some_value=1)) == {"someValue": 1}
    assert dump_wire(Either(right=2)) == {"left": None, "right": 2}
    with pytest.raises(ValueError, match="needs left or right"):
        Either()
