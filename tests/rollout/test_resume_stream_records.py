"""The resume stream's loop tells ``event_msg`` and ``response_item`` records apart itself
and hands them to ``LinePass.feed_event`` / ``feed_item`` (``feed_record`` takes the rest):
it must still rebuild what the whole read does, on records of every odd shape.

Compared with ``reconstruct(read_rollout(path), release_lines=True)`` on the e2e data
files, a bench rollout and crafted files whose records have fields of the wrong JSON type
(an event type that is a list or a number, a payload that is a list, a string or null, a
token count whose info is a list, usage lines inside and between turns), a session_meta
that is not first, a first line with an ordinal, and names, previews and models set by
late lines; with and without rollbacks tracked, live and not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.persistence import rollout_text
from tests.support.crafted_rollout import CraftedRollout, resume_facts

from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout
from threadline.rollout.resume_stream import stream_for_resume

DATA = Path(__file__).resolve().parents[1] / "e2e" / "data"
THREAD = "019a0000-0000-7000-8000-00000000e5f7"


def _crafted(tmp: Path) -> list[Path]:
    c = CraftedRollout(THREAD, compact=True)
    t = [c.turn(f"t{i}", f"question {i}", tokens=10 + i) for i in range(3)]
    odd = [
        c.rec("event_msg", {"type": ["task_started"], "turn_id": "x"}),
        c.rec("event_msg", {"type": 7}),
        c.rec("event_msg", ["not", "an", "object"]),
        c.rec("event_msg", "text"),
        c.rec("event_msg", None),
        c.rec("response_item", None),
        c.rec("response_item", ["x"]),
        c.rec("response_item", {"type": ["message"], "role": "user"}),
        c.ev("token_count", info=[1, 2], rate_limits=None),
        c.ev("token_count", info="x"),
        c.ev("agent_message", message=5),
        c.ev("user_message", message=["x"], images=3),
        c.rec("turn_context", {"model": ["m"]}),
        c.rec("turn_context", "m"),
        c.rec("session_meta", {"id": "019a0000-0000-7000-8000-000000000000"}),
        c.rec("compacted", "summary"),
        c.rec("something_else", {"type": "task_started"}),
    ]
    named = [c.ev("thread_name_updated", thread_name="late name"),
             c.rec("turn_context", {"turn_id": "t1", "model": "late-model"})]
    return [
        c.write(tmp, "odd-inside", t[0][:3] + odd + t[0][3:] + t[1]),
        c.write(tmp, "odd-between", t[0] + odd + t[1] + odd + t[2]),
        c.write(tmp, "odd-last", t[0] + t[1] + odd),
        c.write(tmp, "odd-open", t[0] + c.turn("t9", "open", end=False)[:4] + odd),
        c.write(tmp, "late-facts", t[0] + named + t[1] + [c.ev("token_count", info=None)]),
        c.write(tmp, "usage-between", t[0] + [c.usage(77)] + t[1] + [c.usage(88)]),
        c.write(tmp, "rollback-odd", t[0] + t[1] + odd + [c.ev("thread_rolled_back", num_turns=1)]
                + t[2]),
    ]


def _ordinal_first(tmp: Path) -> Path:
    c = CraftedRollout(THREAD, compact=True)
    path = c.write(tmp, "ordinal", c.turn("t1", "one"))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace('{"timestamp"', '{"ordinal":0,"timestamp"', 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("rollbacks", [True, False])
@pytest.mark.parametrize("live", [False, True])
def test_odd_records_stream_as_the_whole_read_rebuilds_them(
    tmp_path: Path, live: bool, rollbacks: bool
) -> None:
    bench = tmp_path / f"rollout-2027-06-01T00-00-00-{THREAD}.jsonl"
    bench.write_text(rollout_text(THREAD, datetime(2027, 6, 1, tzinfo=UTC), turns=30,
                                  reply_chars=500, text="stream me", cwd="/w"), encoding="utf-8")
    data = sorted(DATA.rglob("*.jsonl")) if DATA.is_dir() else []
    streamed = 0
    for path in [*data, bench, _ordinal_first(tmp_path), *_crafted(tmp_path)]:
        whole = read_rollout(path)
        got = stream_for_resume(path, live=live, rollbacks=rollbacks)
        if got is None:
            continue  # left to the whole read (checked by test_resume_stream)
        expected = resume_facts(whole, with_lines=False, recon=reconstruct(whole, live=live, release_lines=True))
        assert resume_facts(*got, with_lines=False) == expected, path.name
        streamed += 1
    assert streamed >= 9
