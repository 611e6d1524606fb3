"""A resume's line-at-a-time load (``rollout.resume_stream``) against the whole read.

``stream_for_resume`` must rebuild exactly what ``reconstruct(read_rollout(path),
release_lines=True)`` does (turns, usage and its turn, history, cut-off call, window,
preview, name, model, format, parse errors), or say ``None`` and leave it to that, while
never holding every decoded line at once.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from tests.support.crafted_rollout import CraftedRollout, resume_facts

from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout
from threadline.rollout.resume_stream import stream_for_resume

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")
THREAD = "019a0000-0000-7000-8000-00000000e5f1"


_ROLLOUT = CraftedRollout(THREAD, compact=False)
_rec, _ev, _msg, _turn, _cut_off, _write = (_ROLLOUT.rec, _ROLLOUT.ev, _ROLLOUT.msg, _ROLLOUT.turn,
                                            _ROLLOUT.cut_off, _ROLLOUT.write)
_usage = CraftedRollout.usage_info


def _crafted(tmp: Path) -> list[Path]:
    t = [_turn(f"t{i}", f"question {i}", tokens=100 + i) for i in range(4)]
    compacted = _rec("compacted", {"message": "S", "replacement_history": [],
                                   "window_number": 2, "window_id": "w2",
                                   "first_window_id": "w0"})
    return [
        _write(tmp, "plain", t[0] + t[1] + t[2]),
        _write(tmp, "open-last", t[0] + _turn("t9", "still going", end=False, tokens=50)),
        _write(tmp, "asked", t[0] + _cut_off("t9", answered=False)),
        _write(tmp, "answered", t[0] + t[1] + _cut_off("t9", answered=True)),
        _write(tmp, "ended-after-ask", t[0] + _cut_off("t9", answered=False)
               + [_ev("task_complete", turn_id="t9")]),
        _write(tmp, "garbage", t[0] + ["not json", "", "[1, 2]", '{"type": 5}'] + t[1],
               tail="\n{\"timestamp\": \"torn"),
        _write(tmp, "rollback", t[0] + t[1] + [_ev("thread_rolled_back", num_turns=1)] + t[2]),
        _write(tmp, "compacted", t[0] + [compacted] + t[1]),
        _write(tmp, "named", t[0] + [_ev("thread_name_updated", thread_name="a name")] + t[1]),
        _write(tmp, "usage-in-rolled-back", t[0] + t[1] + [_ev("thread_rolled_back",
                                                                num_turns=1)]),
        _write(tmp, "null-usage-last", t[0] + [_ev("token_count", info=None, rate_limits=None)]),
        _write(tmp, "implicit", [_msg("user", "hello"), _ev("user_message", message="hello"),
                                 _msg("assistant", "hi")]),
        _write(tmp, "paginated", [_rec("event_msg", {"type": "task_started", "turn_id": "p"},
                                       ordinal=1)], meta={"history_mode": "paginated"}),
        # A rollback late in the file, past a compaction: a stream that skipped the turn
        # boundaries (rollbacks=False) must start again and track them.
        _write(tmp, "late-rollback", t[0] + [compacted] + t[1] + t[2] + t[3]
               + [_ev("thread_rolled_back", num_turns=2)]),
        _write(tmp, "legacy-compacted", t[0] + t[1] + [_rec("compacted", {"message": "S"})]
               + t[2]),
        _write(tmp, "interrupted", t[0] + _turn("t8", "stop", end=False, tokens=7)
               + [_ev("turn_aborted", turn_id="t8", reason="interrupted")] + t[1]),
        _write(tmp, "bad-item", t[0] + [_rec("response_item", {"type": "message",
                                                                "role": 5})] + t[1]),
    ]


@pytest.mark.parametrize("rollbacks", [True, False])
@pytest.mark.parametrize("live", [False, True])
def test_the_stream_rebuilds_what_the_whole_read_does(
    tmp_path: Path, live: bool, rollbacks: bool
) -> None:
    """With ``rollbacks=False`` (what a resume passes when the offset index saw no
    rollback) too: a file that has one anyway is streamed again, tracked."""
    refs = sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []
    streamed = 0
    for path in refs + _crafted(tmp_path):
        whole = read_rollout(path)
        expected = resume_facts(whole, with_lines=True, recon=reconstruct(whole, live=live, release_lines=True))
        got = stream_for_resume(path, live=live, rollbacks=rollbacks)
        if got is None:
            assert read_rollout(path).meta.history_base is not None, path.name  # type: ignore[union-attr]
            continue
        streamed += 1
        assert resume_facts(*got, with_lines=True) == expected, path.name
    assert streamed >= 13 + (8 if refs else 0)


def test_the_crafted_rollouts_reach_the_rules_the_tail_keeps(tmp_path: Path) -> None:
    recons = {path.name.split("-", 6)[-1]: reconstruct(read_rollout(path))
              for path in _crafted(tmp_path)}
    assert recons["asked.jsonl"].cut_off is not None
    assert recons["answered.jsonl"].cut_off is not None
    assert recons["ended-after-ask.jsonl"].cut_off is None
    assert recons["compacted.jsonl"].window is not None
    assert recons["garbage.jsonl"].parse_errors == 4
    assert recons["named.jsonl"].name == "a name"
    assert recons["paginated.jsonl"].format == "paginated"
    assert recons["open-last.jsonl"].usage_turn_id == "t9"


def test_what_the_stream_cannot_rebuild_is_left_to_the_whole_read(tmp_path: Path) -> None:
    base = {"thread_id": "019a0000-0000-7000-8000-0000000000aa", "end_byte_offset": 10}
    unreadable = _ev("token_count", info={"total_token_usage": "not a block"})
    bad_newest = [*_turn("t0", "q", tokens=5), unreadable]
    for path in [
        _write(tmp_path, "fork", _turn("t0", "q"), meta={"history_base": base}),
        _write(tmp_path, "bad-meta", _turn("t0", "q"), meta={"id": 5}),
        _write(tmp_path, "bad-newest-usage", bad_newest),
    ]:
        assert stream_for_resume(path) is None, path.name
    no_meta = tmp_path / "rollout-2026-11-20T10-00-00-none.jsonl"
    no_meta.write_text("\n".join(_turn("t0", "q")) + "\n", encoding="utf-8")
    assert stream_for_resume(no_meta) is None
    # The whole read then looks past the unreadable snapshot to the one before it.
    recon = reconstruct(read_rollout(tmp_path / "rollout-2026-11-20T10-00-00-bad-newest-usage.jsonl"))
    assert recon.token_info is not None and recon.token_info.total_token_usage.total_tokens == 5


def test_the_stream_never_holds_every_line(tmp_path: Path) -> None:
    body = [line for i in range(400) for line in _turn(f"t{i}", f"q{i} " + "y" * 2000, tokens=i + 9)]
    path = _write(tmp_path, "long", body)

    def peak(load: Any) -> int:
        tracemalloc.start()
        try:
            kept = load()
            return tracemalloc.get_traced_memory()[1] + 0 * len(kept)
        finally:
            tracemalloc.stop()

    whole = peak(lambda: [reconstruct(read_rollout(path), release_lines=True)])
    streamed = peak(lambda: [stream_for_resume(path)])
    # The whole read holds every decoded line at its peak; the stream holds what it keeps.
    assert streamed < 0.8 * whole, (streamed, whole)
