"""A resume that returns no turns, rebuilt from the offset index and the file's tail.

When a thread is resumed with ``excludeTurns`` and its rollout has an intact
compaction (``offsets.model_cut``), nothing before the tail is needed: the model
history starts at the newest ``compacted`` line, the turns before the last come back
without items from the index's spans (:func:`offsets.stub_turn`), the last turn is
rebuilt from its byte range, and the few facts a full read takes from earlier lines
are single lines the index points at (the newest token count, name and turn context)
or the head (``session_meta``, the preview). :func:`resume_from_index` seeks past
everything else, so such a resume reads what follows the compaction, whatever the
size of the file.

Without such a compaction (none, a legacy one, one without window numbers) the same
answer is built from one pass over the file that decodes, before the last turn, only the
lines the model history is made of (``response_item`` and ``compacted``): the turns, the
usage, the name and the model still come from the index. On the 46 MB bench rollout
that leaves 16,000 of 64,000 lines to decode, and builds no turn but the last.

It answers ``None`` whenever it cannot give exactly what
:func:`threadline.rollout.history.reconstruct` would (an implicit turn, a rollback, a
preview or model it cannot find cheaply, a last line the index has not seen): the
caller then reads the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from threadline.protocol.items import DeferredItems
from threadline.protocol.rollout import CompactionWindow, RolloutLine
from threadline.protocol.usage import TokenUsageInfo
from threadline.rollout.files import open_regular
from threadline.rollout.history import (
    Reconstruction,
    deferred_history,
    latest_token_info,
    latest_window,
    sanitize_token_info,
)
from threadline.rollout.lines import decode_json, decode_line, make_line
from threadline.rollout.offsets import OffsetIndex, model_cut, render_turns, stub_turn
from threadline.rollout.pending import find_cut_off
from threadline.rollout.reader import RolloutFile, open_for_lines, parse_lines, read_head
from threadline.rollout.untracked_replay import UntrackedReplay

__all__ = ["resume_from_index"]



def _payload_at(path: Path, offset: int) -> dict[str, Any] | None:
    with open_regular(path) as handle:
        handle.seek(offset)
        raw = handle.readline()
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    payload = obj.get("payload") if isinstance(obj, dict) else None
    return payload if isinstance(payload, dict) else None


_HEAD = re.compile(rb'\{"timestamp":"[^"\\]*",(?:"ordinal":\d+,)?"type":"([a-z_]+)"')
"""The usual first bytes of a record (as ``turns_only`` and ``offsets`` expect them): group
1 is the line type."""
_MODEL_KINDS = (b"response_item", b"compacted")


_PAYLOAD_TYPE = b',"payload":{"type":"'


def _skippable(raw: bytes, head: re.Match[bytes]) -> bool:
    """Whether a line whose first bytes (``head``) name its type surely decodes as a line of
    that type, neither ``response_item`` nor ``compacted``: a second top-level ``type``
    (the last one wins) needs its bytes in the line, or a ``\\u`` escape to spell them. An
    event whose payload starts with its own ``type`` holds ``"type"`` exactly twice unless
    there is more; counting them is one pass over the line where looking for both names
    is two."""
    kind = head.group(1)
    if kind in _MODEL_KINDS or (b"\\" in raw and b"\\u" in raw):
        return False
    if kind == b"event_msg" and raw.startswith(_PAYLOAD_TYPE, head.end()):
        return raw.count(b'"type"') == 2
    return b"response_item" not in raw and b"compacted" not in raw


def _stream_history(
    path: Path, tail_from: int, end: int
) -> tuple[DeferredItems, list[RolloutLine], list[RolloutLine], int] | None:
    """The model history of the whole file, the lines from byte ``tail_from`` on, the
    ``compacted`` lines and the unreadable lines decoded, read one line at a time up to
    byte ``end`` (where the index stopped); ``None`` when a line lies past it (the file
    grew or ends in a line without a newline, which the index has not seen).

    Before ``tail_from`` only the lines the model history is made of (``response_item``
    and ``compacted``) are decoded: with no rollback (the caller checked) no other line
    there changes it, and the turns come from the index. A line is recognised from its
    first bytes (:data:`_HEAD`) and left undecoded only when its bytes cannot spell either
    type (a duplicate ``type`` key, the last of which wins, or a ``\\u`` escape); any other
    line is decoded, so a writer with another key order costs time, never the result."""
    # No turn boundaries (only a rollback looks at them: this file has none, the caller
    # checked) and no event is fed.
    replay = UntrackedReplay()
    compact = replay.compacted
    item = replay.payload

    tail: list[RolloutLine] = []
    compacted: list[RolloutLine] = []
    errors = 0
    match = _HEAD.match
    with open_for_lines(path) as handle:
        offset = 0
        for raw in handle:
            start = offset
            offset += len(raw)
            if offset > end:
                return None
            if start < tail_from:
                head = match(raw, 0, 128)
                if head is not None and _skippable(raw, head):
                    continue
            if start >= tail_from:
                line = decode_line(raw)
                if line is None:
                    errors += bool(raw.strip())
                    continue
                tail.append(line)
            else:
                try:
                    obj = decode_json(raw)
                except ValueError:
                    obj = None
                # a model item is replayed from its record, not made a line (make_line's test)
                if (isinstance(obj, dict) and obj.get("type") == "response_item"
                        and isinstance(obj.get("timestamp"), str) and "payload" in obj):
                    item(obj["payload"])
                    continue
                line = make_line(obj)
                if line is None:
                    errors += bool(raw.strip())
                    continue
            kind = line.type
            if kind == "response_item":
                item(line.payload)
            elif kind == "compacted":
                compacted.append(line)
                compact(line)
    return DeferredItems(replay.history), tail, compacted, errors


def resume_from_index(
    index: OffsetIndex, *, live: bool = False
) -> tuple[RolloutFile, Reconstruction] | None:
    """The rollout's tail and the reconstruction a turn-less resume needs (see the
    module docstring), or ``None`` when the file must be read."""
    spans = index.visible()
    if index.unsupported is not None or index.rolled_back is not None or len(spans) < 2:
        return None
    if not all(span.explicit for span in spans):
        return None
    path = Path(index.path)
    head = read_head(path)
    if head.meta is None or head.first_user_message is None or head.meta.history_base is not None:
        return None
    cut = model_cut(index)
    compacted = _payload_at(path, index.compacted) if cut is not None and index.compacted is not None else None
    history: DeferredItems
    if cut is not None and compacted is not None and CompactionWindow.of(compacted) is not None:
        start = min(cut, spans[-1].start)
        with open_regular(path) as handle:
            handle.seek(start)
            data = handle.read(max(0, index.scanned_to - start))
        tail, errors = parse_lines(data, source=str(path))
        history = deferred_history(tail)  # built with the thread's first model request
        window = latest_window(tail, head.meta)
    else:
        start = spans[-1].start
        streamed = _stream_history(path, start, index.scanned_to)
        if streamed is None:
            return None
        history, tail, windows, errors = streamed
        window = latest_window(windows, head.meta)
    token_info: TokenUsageInfo | None = None
    if index.token_at is not None:
        if index.token_at >= start:
            latest = latest_token_info(tail)
            token_info = latest[1] if latest else None
        else:
            payload = _payload_at(path, index.token_at)
            info = payload.get("info") if payload is not None else None
            try:
                token_info = TokenUsageInfo.model_validate(info) if isinstance(info, dict) else None
            except ValueError:
                return None
        if token_info is None:
            return None
    name: str | None = None
    if index.name_at is not None:
        payload = _payload_at(path, index.name_at)
        value = payload.get("thread_name") if payload is not None else None
        name = value if isinstance(value, str) and value else None
    model: str | None = None
    if index.context_at is not None:
        payload = _payload_at(path, index.context_at)
        value = payload.get("model") if payload is not None else None
        if not isinstance(value, str) or not value:
            return None  # a full read would look further back
        model = value
    last = render_turns(index, spans[-1:], live=live)
    if len(last) != 1 or last[0].id != spans[-1].id:
        return None
    turns = [stub_turn(span, live=live) for span in spans[:-1]] + last
    ids = {t.id for t in turns}
    usage_turn: str | None = None
    if token_info is not None:
        if index.token_turn in ids:
            usage_turn = index.token_turn
        else:
            done = [t.id for t in turns if t.status in ("completed", "failed")]
            usage_turn = done[-1] if done else turns[-1].id
    rollout = RolloutFile(path=path, meta=head.meta, lines=tail, parse_errors=errors,
                          format=head.format)
    recon = Reconstruction(
        meta=head.meta,
        _history=history,
        turns=turns,
        token_info=sanitize_token_info(token_info) if token_info is not None else None,
        usage_turn_id=usage_turn,
        preview=head.first_user_message,
        name=name,
        model=model,
        format=head.format,
        parse_errors=errors,
        open_turn_id=turns[-1].id if spans[-1].status == "inProgress" else None,
        cut_off=find_cut_off(tail),
        window=window,
        stubbed_turns=len(turns) - 1,
    )
    return rollout, recon
