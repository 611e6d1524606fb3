"""A resume's whole-file load, one line at a time: the decoded lines are never all held.

A resume keeps no lines (``ThreadStore.load_history``): only the turns, the model history
and a few facts about the file. :func:`reconstruct` over :func:`read_rollout`'s list holds
every decoded line until the pass ends, which is the peak of the load (the 46 MB bench
rollout decodes to ~82 MB of objects, of which the turns and the history keep ~36 MB).
:func:`stream_for_resume` feeds each line to the same :class:`~threadline.rollout.history.LinePass`
as it is decoded and lets it go, and keeps of the rest only what the end of the pass
looks at:

* the newest ``token_count`` whose ``info`` is an object (its line is fed with ``mark``;
  :func:`reconstruct` finds the same line by scanning back);
* the lines from the last turn start with no turn end after it (``find_cut_off`` reads
  no line before that start);
* the ``compacted`` lines (kept by the pass; ``latest_window`` reads only those).

Whatever this cannot rebuild exactly is left to the whole read (``None``): a paginated
fork (``history_base``: a chain of files), a first ``session_meta`` that does not validate
or is missing (the whole read's error), and a newest usage snapshot whose ``info`` does
not validate (the whole read then looks at older ones).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from threadline.protocol.rollout import SessionMeta
from threadline.protocol.usage import TokenUsageInfo
from threadline.rollout.errors import RolloutReadError
from threadline.rollout.gc_pause import free_after_pause
from threadline.rollout.history import HistoryReplay, LinePass, Reconstruction
from threadline.rollout.lines import decode_json, line_of
from threadline.rollout.pending import TURN_ENDS, TURN_STARTS, find_cut_off
from threadline.rollout.reader import RolloutFile, open_for_lines
from threadline.rollout.untracked_replay import RolledBack, UntrackedReplay

__all__ = ["stream_for_resume"]

log = logging.getLogger(__name__)


def stream_for_resume(
    path: Path, *, live: bool = False, rollbacks: bool = True
) -> tuple[RolloutFile, Reconstruction] | None:
    """``reconstruct(read_rollout(path), live=live, release_lines=True)`` without holding
    every line: the file (its ``lines`` empty, as that leaves them) and its
    reconstruction, or ``None`` when the whole read must do it (see the module docstring).
    Read errors are those of :func:`read_rollout`. ``rollbacks=False`` (the offset index
    saw none) replays the model history without what only a rollback needs; a rollback
    found anyway makes the stream start again as with ``rollbacks=True``."""
    if not rollbacks:
        try:
            return _stream(path, live, UntrackedReplay())
        except RolledBack:
            pass
    return _stream(path, live, HistoryReplay())


def _stream(
    path: Path, live: bool, replay: HistoryReplay
) -> tuple[RolloutFile, Reconstruction] | None:
    step = LinePass()
    step.replay = replay
    feed, feed_item, feed_event = step.feed_record, step.feed_item, step.feed_event
    marks = step.builder.marks
    index = errors = 0
    meta: SessionMeta | None = None
    meta_seen = False
    first_ordinal: int | None = None
    token: tuple[int, Any] | None = None
    tail: list[dict[str, Any]] | None = None  # records, made lines only at the end
    source = str(path)
    try:
        handle = open_for_lines(path)
    except OSError as exc:
        raise RolloutReadError(path, exc.strerror or str(exc)) from exc
    with handle:
        try:
            for number, raw in enumerate(handle):
                try:
                    obj = from_json(raw)  # decode_json, inlined (one call per line)
                except ValueError:
                    try:
                        obj = decode_json(raw)
                    except ValueError:
                        obj = None
                # make_line's test of a record, without making the line
                kind = obj.get("type") if isinstance(obj, dict) else None
                if (not isinstance(kind, str) or not isinstance(obj.get("timestamp"), str)
                        or "payload" not in obj):
                    if raw.strip():  # what reader._collect_all counts and logs
                        errors += 1
                        log.warning(
                            "skipping unreadable rollout line %d of %s%s", number + 1, source,
                            "" if raw.endswith(b"\n") else " (torn last line)",
                        )
                    continue
                payload = obj["payload"]
                if kind == "event_msg":
                    event = payload.get("type") if isinstance(payload, dict) else None
                    mark = False
                    if event == "token_count":
                        if isinstance(payload.get("info"), dict):
                            if token is not None:
                                marks.pop(token[0], None)
                            token = (index, payload["info"])
                            mark = True
                        if tail is not None:
                            tail.append(obj)
                    elif event in TURN_STARTS:
                        tail = [obj]
                    elif event in TURN_ENDS:
                        tail = None
                    elif tail is not None:
                        tail.append(obj)
                    feed_event(index, payload, event, mark)
                else:
                    if tail is not None:
                        tail.append(obj)
                    if kind == "response_item":
                        feed_item(payload)
                    else:
                        if kind == "session_meta" and not meta_seen:
                            meta_seen = True
                            try:
                                meta = SessionMeta.model_validate(payload)
                            except ValueError:
                                return None
                            if meta.history_base is not None:
                                return None
                        feed(index, kind, payload, obj, False)
                if index == 0:
                    ordinal = obj.get("ordinal")
                    first_ordinal = ordinal if isinstance(ordinal, int) else None
                index += 1
        except OSError as exc:
            raise RolloutReadError(path, exc.strerror or str(exc)) from exc
    if meta is None:
        return None
    latest: tuple[int, TokenUsageInfo] | None = None
    if token is not None:
        try:
            latest = (token[0], TokenUsageInfo.model_validate(token[1]))
        except ValueError:
            return None
    paginated = meta.history_mode == "paginated" or first_ordinal is not None
    rollout = RolloutFile(path=path, meta=meta, lines=[], parse_errors=errors,
                          format="paginated" if paginated else "legacy")
    cut_off = find_cut_off([line_of(obj) for obj in tail]) if tail is not None else None
    free_after_pause(step)  # its turn builder's tables (8-35 ms to free): once the answer is out
    return rollout, step.finish(rollout, live=live, latest=latest, cut_off=cut_off)
