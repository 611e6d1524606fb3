"""Rollout records -> :class:`RolloutLine` objects, fast: the decoder and the builder
every reader of this package uses.

:func:`decode_json` decodes as ``json.loads`` does at about twice its speed;
:func:`make_line` builds the line ``RolloutLine.model_construct`` would build, for a fifth
of its cost; :func:`restamped` copies lines as ``model_copy`` would for a fork, and
:func:`encode_copies` writes such copies as the writer's ``dump_line_json`` would, faster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic_core import PydanticSerializationError, from_json, to_json

from threadline.protocol.rollout import RolloutLine, dump_line_json

__all__ = [
    "CopiedLines",
    "build_line",
    "decode_json",
    "decode_line",
    "encode_copies",
    "line_of",
    "make_line",
    "restamped",
]

_LINE_KEYS = frozenset({"timestamp", "type", "payload", "ordinal", "metadata"})
_ALL_SET = set(_LINE_KEYS)
"""The ``__pydantic_fields_set__`` every read line shares (every field is set): a set of
five names takes 472 bytes, 30 MB over a 64,000-line history. Setting a field of a line
adds a name already in it; ``model_copy`` copies it before changing it."""
_new_line = object.__new__
_set = object.__setattr__


def decode_json(raw: bytes | str) -> Any:
    """One JSON value, decoded as ``json.loads`` decodes it, at about twice its speed.

    ``pydantic_core.from_json`` gives the same values for what it accepts (integers of
    any size, ``NaN``/``Infinity``, the last of duplicate keys) and caches short strings
    (keys), which keeps a loaded history smaller; what it refuses (a lone surrogate
    escape, a byte order mark) goes to ``json.loads``, which says whether it is JSON
    at all (``ValueError`` when not)."""
    try:
        return from_json(raw)
    except ValueError:
        return json.loads(raw)


def make_line(obj: Any) -> RolloutLine | None:
    """A line without validation, as ``RolloutLine.model_construct`` builds it (the same
    attributes, the set of fields shared: :data:`_ALL_SET`), for a fifth of its cost;
    ``None`` for what is not a rollout record."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    stamp = obj.get("timestamp")
    if not isinstance(kind, str) or not isinstance(stamp, str) or "payload" not in obj:
        return None
    ordinal = obj.get("ordinal")
    metadata = obj.get("metadata")
    line = _new_line(RolloutLine)  # build_line's work, without a call per line
    _set(line, "__dict__", {"timestamp": stamp, "type": kind, "payload": obj["payload"],
                            "ordinal": ordinal if isinstance(ordinal, int) else None,
                            "metadata": metadata if isinstance(metadata, dict) else None})
    _set(line, "__pydantic_fields_set__", _ALL_SET)
    _set(line, "__pydantic_extra__",
         {k: v for k, v in obj.items() if k not in _LINE_KEYS} if len(obj) > 5 else {})
    _set(line, "__pydantic_private__", None)
    return line


def line_of(obj: Any) -> RolloutLine:
    """:func:`make_line` of a record the caller has checked is one (it accepts it)."""
    line = make_line(obj)
    assert line is not None
    return line


def build_line(
    stamp: str, kind: str, payload: Any, ordinal: int | None, metadata: dict[str, Any] | None,
    extra: dict[str, Any],
) -> RolloutLine:
    line = _new_line(RolloutLine)
    _set(line, "__dict__", {"timestamp": stamp, "type": kind, "payload": payload,
                            "ordinal": ordinal, "metadata": metadata})
    _set(line, "__pydantic_fields_set__", _ALL_SET)
    _set(line, "__pydantic_extra__", extra)
    _set(line, "__pydantic_private__", None)
    return line


class CopiedLines(list[RolloutLine]):
    """The lines :func:`restamped` made: a list like any other, which also remembers which
    of its lines are those copies (:meth:`copies`), so that a writer given it knows which
    lines hold decoded JSON only (:func:`encode_copies`). Lines added to it later (a fork's
    interruption marker) are not among them."""

    __slots__ = ("_made",)

    def __init__(self, lines: Iterable[RolloutLine] = ()) -> None:
        super().__init__(lines)
        self._made = list(self)  # holds them, so their ids stay theirs

    def copies(self) -> frozenset[int]:
        """The ids of the lines it was made with."""
        return frozenset(map(id, self._made))


def restamped(lines: Iterable[RolloutLine], stamp: str) -> CopiedLines:
    """Copies of ``lines`` stamped ``stamp``, without an ordinal (what a fork writes): as
    ``line.model_copy(update={"timestamp": stamp, "ordinal": None})`` makes them, the
    payload shared, for a fraction of its cost. ``lines`` must be decoded lines (what the
    readers make): :func:`encode_copies` relies on it."""
    return CopiedLines(build_line(stamp, line.type, line.payload, None, line.metadata,
                                  dict(line.__pydantic_extra__ or {})) for line in lines)


_EXPONENT = re.compile(rb"e(?<=[0-9]e)")
"""A digit followed by ``e``: where ``to_json`` may have written a float in exponent form."""


def encode_copies(lines: Sequence[RolloutLine]) -> list[bytes]:
    """Each line as the writer encodes it, ``(dump_line_json(line) + "\n").encode()``, for
    lines whose values are decoded JSON (dicts, lists, strings, numbers, booleans, null:
    what :func:`restamped` copies), about four times as fast.

    ``pydantic_core.to_json`` writes such values byte for byte as ``json.dumps`` (compact,
    ``ensure_ascii=False``) does, with two exceptions, which take ``dump_line_json``:

    * a string with a lone surrogate, which ``to_json`` refuses (``dump_line_json`` writes
      U+FFFD);
    * some floats: Python writes ``1e-05``, ``1e+16`` where ``to_json`` (Rust's shortest
      form, as Codex writes them) writes ``0.00001``, ``1e16``. Every float the two write
      differently comes out of ``to_json`` with a digit followed by ``e`` or with
      ``0.0000`` (a test sweeps the float range); a line with either anywhere, in a string
      too, is left to ``dump_line_json``. ``NaN`` and the infinities are written as
      Python writes them (``inf_nan_mode="constants"``)."""
    out: list[bytes] = []
    add = out.append
    exponent = _EXPONENT.search
    heads: dict[tuple[str, str], bytes] = {}  # a fork stamps every line alike
    for line in lines:
        try:
            if line.ordinal is None and line.metadata is None and not line.__pydantic_extra__:
                # to_json_dict's {"timestamp", "type", "payload"}, without making it
                key = (line.timestamp, line.type)
                head = heads.get(key)
                if head is None:
                    head = heads[key] = (b'{"timestamp":' + to_json(key[0]) + b',"type":'
                                         + to_json(key[1]) + b',"payload":')
                data = to_json(line.payload, inf_nan_mode="constants")
                checked = data
                data = head + data + b"}\n"
            else:
                checked = data = to_json(line.to_json_dict(), inf_nan_mode="constants") + b"\n"
        except PydanticSerializationError:
            add((dump_line_json(line) + "\n").encode("utf-8"))
            continue
        if exponent(checked) is not None or b"0.0000" in checked:
            add((dump_line_json(line) + "\n").encode("utf-8"))
        else:
            add(data)
    return out


def decode_line(raw: bytes) -> RolloutLine | None:
    try:
        return make_line(decode_json(raw))
    except ValueError:
        return None
