"""``protocol.records.record`` makes what ``@dataclass(frozen=True, slots=True)`` made, less
the run-time freeze: same repr, equality, hash, slots, match args, ``replace`` and fields."""

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from threadline.core.config_sections import ModelProviderConfig
from threadline.protocol.records import record
from threadline.store.base import GitRecord, ListQuery, ThreadRecord


@record
class Row:
    id: str
    size: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class FrozenRow:
    id: str
    size: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)


@record(slots=False)
class Policy:
    names: tuple[str, ...] = ()

    @cached_property
    def upper(self) -> tuple[str, ...]:
        return tuple(n.upper() for n in self.names)


def test_a_record_behaves_as_the_frozen_dataclass_it_replaces() -> None:
    new, old = Row("a", 2, ("x",)), FrozenRow("a", 2, ("x",))
    assert repr(new).replace("Row", "FrozenRow", 1) == repr(old)
    assert new == Row("a", 2, ("x",)) and new != Row("b")
    assert hash(new) == hash(old) == hash(Row("a", 2, ("x",)))
    assert {new, Row("a", 2, ("x",))} == {new}
    assert Row.__slots__ == FrozenRow.__slots__ and not hasattr(new, "__dict__")
    assert Row.__match_args__ == FrozenRow.__match_args__
    assert [f.name for f in dataclasses.fields(Row)] == ["id", "size", "tags"]
    assert dataclasses.replace(new, size=3) == Row("a", 3, ("x",))
    assert dataclasses.asdict(new) == dataclasses.asdict(old)
    match new:
        case Row(ident, size):
            assert (ident, size) == ("a", 2)


def test_a_record_without_slots_keeps_a_dict_for_cached_properties() -> None:
    policy = Policy(("a", "b"))
    assert policy.upper == ("A", "B") and "upper" in policy.__dict__
    assert hash(policy) == hash(Policy(("a", "b")))


def test_the_start_path_records_stay_hashable_values() -> None:
    # Records of the store and the config are compared and hashed as values (sets, keys).
    rec = ThreadRecord(id="t", rollout_path=Path("/r.jsonl"), created_at_ms=1, updated_at_ms=2,
                       source="cli", model_provider="m", cwd="/", git=GitRecord(sha="s"))
    assert hash(rec) == hash(dataclasses.replace(rec)) and rec == dataclasses.replace(rec)
    assert len({ListQuery(), ListQuery()}) == 1
    assert ModelProviderConfig() == ModelProviderConfig()


@record
class Flags:
    a: int
    hidden: str = field(default="h", repr=False)
    ignored: int = field(default=0, compare=False)
    unhashed: int = field(default=0, hash=False)
    parent: object = None


@dataclass(frozen=True, slots=True)
class FrozenFlags:
    a: int
    hidden: str = field(default="h", repr=False)
    ignored: int = field(default=0, compare=False)
    unhashed: int = field(default=0, hash=False)
    parent: object = None


@record
class Single:
    only: str


@record
class Empty:
    pass


@dataclass(frozen=True, slots=True)
class FrozenSingle:
    only: str


@dataclass(frozen=True, slots=True)
class FrozenEmpty:
    pass


def test_the_methods_honour_the_field_flags_as_the_generated_ones_do() -> None:
    for args in [(1,), (1, "x", 5, 6), (2, "y", 7, 8, ("z",))]:
        new, old = Flags(*args), FrozenFlags(*args)
        assert repr(new).replace("Flags", "FrozenFlags", 1) == repr(old)
        assert hash(new) == hash(old)
    # compare=False: not compared, not hashed; hash=False: compared, not hashed.
    assert Flags(1, ignored=1) == Flags(1, ignored=2)
    assert hash(Flags(1, ignored=1)) == hash(Flags(1, ignored=2))
    assert Flags(1, unhashed=1) != Flags(1, unhashed=2)
    assert hash(Flags(1, unhashed=1)) == hash(Flags(1, unhashed=2))
    # Another class, even with the same fields, is not equal (the generated __eq__'s rule).
    assert Flags(1) != FrozenFlags(1) and Flags(1).__eq__(FrozenFlags(1)) is NotImplemented
    # One field and none: the values are still a tuple, so the hash is the generated one's.
    assert hash(Single("s")) == hash(FrozenSingle("s")) != hash("s")
    assert hash(Empty()) == hash(FrozenEmpty()) and Empty() == Empty()
    assert repr(Single("s")) == "Single(only='s')" and repr(Empty()) == "Empty()"


def test_a_record_that_holds_itself_shows_dots_as_a_dataclass_does() -> None:
    holder: list[object] = []
    new, old = Flags(1, parent=holder), FrozenFlags(1, parent=holder)
    holder.append(new)
    old_holder: list[object] = [old]
    old = FrozenFlags(1, parent=old_holder)
    old_holder[0] = old
    holder[0] = new
    assert repr(new).replace("Flags", "FrozenFlags", 1) == repr(old)
    assert "..." in repr(new)


def test_a_method_the_class_writes_itself_is_kept() -> None:
    @record
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Named("n")) == "<n>" and Named("n") == Named("n")
