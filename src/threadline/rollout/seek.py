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

It answers ``None`` whenever it cannot give exactly what
:func:`threadline.rollout.history.reconstruct` would (an implicit turn, a rollback, a
legacy compaction, a compaction without window numbers, a preview or model it cannot
find cheaply): the caller then reads the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from threadline.protocol.rollout import CompactionWindow
from threadline.protocol.usage import TokenUsageInfo
from threadline.rollout.files import open_regular
from threadline.rollout.history import (
    Reconstruction,
    deferred_history,
    latest_token_info,
    latest_window,
    sanitize_token_info,
)
from threadline.rollout.offsets import OffsetIndex, model_cut, render_turns, stub_turn
from threadline.rollout.pending import find_cut_off
from threadline.rollout.reader import RolloutFile, parse_lines, read_head

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
    cut = model_cut(index)
    if cut is None or index.compacted is None:
        return None
    start = min(cut, spans[-1].start)
    path = Path(index.path)
    head = read_head(path)
    if head.meta is None or head.first_user_message is None or head.meta.history_base is not None:
        return None
    compacted = _payload_at(path, index.compacted)
    if compacted is None or CompactionWindow.of(compacted) is None:
        return None
    with open_regular(path) as handle:
        handle.seek(start)
        data = handle.read(max(0, index.scanned_to - start))
    tail, errors = parse_lines(data, source=str(path))
    history = deferred_history(tail)  # built with the thread's first model request
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
        window=latest_window(tail, head.meta),
        stubbed_turns=len(turns) - 1,
    )
    return rollout, recon
