"""The turns of a whole rollout, decoding only the lines turns are made of.

A ``thread/read`` with ``includeTurns`` shows turns and nothing else, and turns come
from ``event_msg`` and ``compacted`` lines only (:class:`~threadline.rollout.turns.TurnBuilder`
looks at no other type). The model's ``response_item`` lines, ``turn_context`` lines,
``token_count`` events (and Codex 0.169's ``token_usage_record`` and ``world_state``
lines) are about half of a typical file's bytes; :func:`read_turns_only`
recognises them from the first bytes of the record (``{"timestamp":"…","type":"…"``, the
order Codex and threadline write) and does not decode them. A record in any other form is
decoded, so nothing depends on the key order being that one.

The result is the turns :func:`threadline.rollout.history.reconstruct` builds from
:func:`threadline.rollout.reader.read_rollout`'s lines (``live`` off), or ``None`` where it
might not be and the caller must read the file whole:

* a line left undecoded still counts as a line, but in a full read a line that is not
  valid JSON is dropped and moves every later line's index, so a file whose turns take
  ids from line indexes (``rollout-<index>``: no ``task_started`` with an id, as in old
  Codex files) is read whole;
* a line is only skipped when its bytes cannot hold a second ``type`` that would make it
  matter (a duplicate key: the last one wins when decoded), nor a ``\\u`` escape that could
  spell one; anything else is decoded;
* a paginated fork (``history_base``), a file without a ``session_meta`` and an
  unreadable first ``session_meta`` are left to the full read (its errors and its chain).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from threadline.protocol.v2.turn import Turn
from threadline.rollout.errors import RolloutReadError
from threadline.rollout.lines import make_line
from threadline.rollout.reader import open_for_lines
from threadline.rollout.turns import TurnBuilder

__all__ = ["read_turns_only"]

log = logging.getLogger(__name__)

_SKIPPABLE_HEAD = re.compile(
    rb'\{"timestamp":"[^"\\]*",(?:"ordinal":\d+,)?"type":"'
    rb'(?:(response_item"|turn_context"|token_usage_record"|world_state")'
    rb'|event_msg","payload":\{"type":"(token_count")?)'
)
"""The usual first bytes of a record, classifying it in one match: ``lastindex`` 1 is a
line type turns never look at (``response_item``, ``turn_context``, and Codex 0.169's
``token_usage_record`` and ``world_state``), 2 a ``token_count`` event, ``None`` any
other event (decoded). A record whose first bytes are in another form does not match and
is decoded."""

_HEAD_BYTES = 160

_RELEVANT_TYPE = re.compile(
    rb'"type"[ \t\n\r]*:[ \t\n\r]*"(?:event_msg|compacted|session_meta)"'
)
"""A ``type`` member naming a line type turns use, at any depth: what a duplicate
top-level ``type`` that made the record behind a group-1 head matter
would have to look like in a line without ``\\u`` escapes (in valid JSON the bytes
``"type"`` are a whole string token, never part of a longer one). One search for the
three values scans the line once, not three times."""


def _skippable(raw: bytes, group: int) -> bool:
    """Whether ``raw``, whose head matched :data:`_SKIPPABLE_HEAD` with ``lastindex``
    ``group`` (1 or 2), is a record :class:`TurnBuilder` ignores whatever it holds."""
    if b"\\" in raw and b"\\u" in raw:
        return False
    if group == 1:
        # Only a duplicate top-level type could make it a line that matters here: an
        # event, a compaction, or a session_meta (the first one is the thread's).
        return _RELEVANT_TYPE.search(raw) is None
    # A token_count event: the line type and the payload type, and no other.
    return raw.count(b'"type"') == 2


def _decode(raw: bytes) -> Any:
    """``lines.decode_json`` without caching string values (keys only): the payloads
    are dropped once their turn items are built, and caching costs a quarter of it."""
    try:
        return from_json(raw, cache_strings="keys")
    except ValueError:
        return json.loads(raw)


def read_turns_only(path: Path) -> Sequence[Turn] | None:
    """The turns of the rollout at ``path`` as a full read rebuilds them (``live``
    off), or ``None`` when the file must be read whole (see the module docstring):
    checked but kept as wire JSON (``TurnBuilder.finish_json``), as the answer only
    writes them out."""
    builder = TurnBuilder()
    feed = builder.feed_record
    head_of = _SKIPPABLE_HEAD.match
    skippable = _skippable
    meta_seen = False
    index = 0
    try:
        handle = open_for_lines(path)
    except OSError as exc:
        raise RolloutReadError(path, exc.strerror or str(exc)) from exc
    with handle:
        for raw in handle:
            head = head_of(raw, 0, _HEAD_BYTES)
            if head is not None:
                group = head.lastindex
                if group is not None and skippable(raw, group):
                    index += 1
                    continue
            try:
                obj = _decode(raw)
            except ValueError:
                obj = None
            # What ``lines.make_line`` keeps as a line (blank lines are never one).
            if (
                not isinstance(obj, dict)
                or not isinstance(kind := obj.get("type"), str)
                or not isinstance(obj.get("timestamp"), str)
                or "payload" not in obj
            ):
                if raw.strip():
                    log.warning("skipping unreadable rollout line %d of %s", index + 1, path)
                continue
            payload = obj["payload"]
            if kind == "session_meta" and not meta_seen:
                meta_seen = True
                line = make_line(obj)
                try:
                    meta = line.as_session_meta() if line is not None else None
                except ValueError:
                    meta = None
                if meta is None or meta.history_base is not None:
                    return None
            feed(index, kind, payload)
            index += 1
    if not meta_seen:
        return None
    turns = builder.finish_json(live=False)
    if builder.index_ids:
        return None
    return turns
