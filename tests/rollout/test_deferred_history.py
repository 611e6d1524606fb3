"""A resume's model history is replayed with the turns and built only when first read
(``deferred_history``, ``DeferredItems``): what it builds must be what the replay that
validated every item as it went built, on Codex 0.169's reference rollouts and on
rollouts with every shape the replay treats apart (invalid items of each kind,
contextual user messages, rollbacks with and without turn markers, legacy and
replacing compactions, a rollback reaching back past a compaction). The oracle below
is that earlier replay (``tests/support/history_oracle.py``); ``validates_as_item`` must never vouch for
a value the models refuse."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from tests.support.history_oracle import validating_replay as _oracle

from threadline.protocol.items import (
    DeferredItems,
    dump_response_item,
    parse_response_item,
    validates_as_item,
)
from threadline.rollout.history import deferred_history, model_history, reconstruct
from threadline.rollout.reader import read_rollout

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")
TS = "2026-11-20T10:00:00.000Z"


# ---- rollouts -----------------------------------------------------------------------


def _line(kind: str, payload: Any) -> str:
    return json.dumps({"timestamp": TS, "type": kind, "payload": payload})


def _msg(role: str, text: Any, kind: str = "input_text") -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def _turn(turn_id: str, question: str, *, explicit: bool = True) -> list[str]:
    body = [_line("event_msg", {"type": "task_started", "turn_id": turn_id})] if explicit else []
    body += [
        _line("response_item", _msg("user", "<environment_context>cwd</environment_context>")),
        _line("response_item", _msg("user", question)),
        _line("event_msg", {"type": "user_message", "message": question}),
        _line("response_item", {"type": "reasoning", "summary": [{"type": "summary_text",
                                "text": "think"}], "encrypted_content": None}),
        _line("response_item", {"type": "function_call", "name": "shell", "arguments": "{}",
                                "call_id": f"c-{turn_id}"}),
        _line("response_item", {"type": "function_call_output", "call_id": f"c-{turn_id}",
                                "output": {"content": "ok", "success": True}}),
        _line("response_item", {"type": "web_search_call", "status": "completed"}),
        _line("response_item", _msg("assistant", f"answer {turn_id}", "output_text")),
    ]
    if explicit:
        body.append(_line("event_msg", {"type": "task_complete", "turn_id": turn_id}))
    return body


_INVALID = [
    _line("response_item", _msg("user", 7)),  # a user message whose text is not text
    _line("response_item", {"type": "message", "role": "user", "content": "flat"}),
    _line("response_item", {"type": "message", "content": []}),  # no role
    _line("response_item", {"type": "function_call", "name": "shell", "arguments": "{}"}),
    _line("response_item", {"type": "function_call_output", "call_id": "x"}),  # no output
    _line("response_item", {"type": "reasoning", "summary": [{"text": None}]}),
    _line("response_item", {"role": "user"}),  # no type
    _line("response_item", ["not", "an", "object"]),
]


def _write(tmp: Path, name: str, body: list[str]) -> Path:
    meta = _line("session_meta", {"id": "019a0000-0000-7000-8000-00000000d0f1", "timestamp": TS,
                                  "cwd": "/", "originator": "tests", "cli_version": "0",
                                  "source": "vscode"})
    path = tmp / f"rollout-2026-11-20T10-00-00-{name}.jsonl"
    path.write_text("\n".join([meta, *body]) + "\n", encoding="utf-8")
    return path


def _crafted(tmp: Path) -> list[Path]:
    t = [_turn(f"t{i}", f"question {i}") for i in range(6)]
    replacing = _line("compacted", {"message": "S", "replacement_history": [
        _msg("user", "question 0"), _msg("user", "SUMMARY")]})
    rollback = [_line("event_msg", {"type": "thread_rolled_back", "num_turns": 2})]
    return [
        _write(tmp, "invalid", t[0] + _INVALID + t[1] + _INVALID[:3] + t[2]),
        _write(tmp, "rollback", t[0] + t[1] + _INVALID + t[2] + t[3] + rollback + t[4]),
        _write(tmp, "legacy", t[0] + t[1] + [_line("compacted", {"message": "sum"})] + t[2]),
        _write(tmp, "replacing", t[0] + t[1] + [replacing] + t[2] + t[3]),
        _write(tmp, "back-past", t[0] + t[1] + [replacing] + t[2] + rollback + t[3]),
        _write(tmp, "bad-compaction", t[0] + [replacing] + t[1]
               + [_line("compacted", {"message": 5, "replacement_history": []})] + t[2]),
        _write(tmp, "implicit", _turn("a", "one", explicit=False)
               + _turn("b", "two", explicit=False) + _INVALID
               + _turn("c", "three", explicit=False) + rollback),
        _write(tmp, "rollback-all", t[0] + t[1] + [_line(
            "event_msg", {"type": "thread_rolled_back", "num_turns": 9})] + t[2]),
    ]


def _all(tmp: Path) -> list[Path]:
    refs = sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []
    return refs + _crafted(tmp)


def _dumped(items: Any) -> list[Any]:
    return [dump_response_item(item) for item in items]


# ---- tests --------------------------------------------------------------------------


def test_a_resume_builds_the_history_the_validating_replay_built(tmp_path: Path) -> None:
    paths = _all(tmp_path)
    assert len(paths) > 8
    for path in paths:
        expected = _oracle(read_rollout(path).lines)
        recon = reconstruct(read_rollout(path))  # as a resume: replayed, not built
        items = recon.history_items
        assert isinstance(items, DeferredItems), path.name
        assert len(items) == len(expected), path.name  # known before it is built
        assert _dumped(recon.history) == _dumped(expected), path.name
        assert recon.history == expected, path.name  # the same models, not only the JSON
        assert recon.history is recon.history  # built once
        lazy = reconstruct(read_rollout(path), lazy_history=True)  # a read's, from a copy
        assert _dumped(lazy.history) == _dumped(expected), path.name
        assert _dumped(model_history(read_rollout(path).lines)) == _dumped(expected)


def test_the_crafted_rollouts_reach_every_rule(tmp_path: Path) -> None:
    """Guards the test above: the crafted rollouts really do drop, roll back and compact."""
    by_name = {p.name.split("-", 6)[-1]: p for p in _crafted(tmp_path)}
    sizes = {name: len(_oracle(read_rollout(p).lines)) for name, p in by_name.items()}
    full = len(_oracle(read_rollout(by_name["invalid.jsonl"]).lines))
    assert full == 3 * 7  # every invalid item dropped
    assert sizes["rollback.jsonl"] == 3 * 7  # t0, t1, t4
    assert sizes["back-past.jsonl"] == 2 * 7  # the rollback undid the compaction too
    assert sizes["replacing.jsonl"] == 2 + 2 * 7
    assert sizes["rollback-all.jsonl"] == 7


def test_nothing_is_validated_before_the_history_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Vouched-for payloads wait as they were decoded; only doubtful ones are validated
    during the replay (and the invalid ones are skipped then, with the same warning)."""
    path = _crafted(tmp_path)[0]
    rollout = read_rollout(path)
    with caplog.at_level(logging.WARNING, logger="threadline.rollout.history"):
        deferred = deferred_history(rollout.lines)
    assert deferred.pending == len(deferred) == 3 * 7
    payloads = {id(line.payload) for line in rollout.lines}
    assert all(id(entry) in payloads for entry in deferred._entries or [])  # no copies
    assert caplog.text.count("does not validate") == len(_INVALID) + 3
    built = deferred.build()
    assert deferred.pending == 0 and deferred.build() is built and list(deferred) == built


def _variants(value: Any) -> list[Any]:
    """``value`` with each member dropped or replaced by a value of another type, at
    every depth."""
    out: list[Any] = []
    odd = [None, 1, 1.5, True, "s", [], {}, ["s"], [{}]]
    if isinstance(value, dict):
        for key in list(value):
            dropped = dict(value)
            del dropped[key]
            out.append(dropped)
            for other in [*odd, *_variants(value[key])]:
                changed = dict(value)
                changed[key] = other
                out.append(changed)
    elif isinstance(value, list):
        for index, member in enumerate(value):
            for other in [*odd, *_variants(member)]:
                changed = list(value)
                changed[index] = other
                out.append(changed)
    return out


def test_validates_as_item_never_vouches_for_what_fails(tmp_path: Path) -> None:
    samples: list[Any] = []
    for path in _all(tmp_path):
        samples += [line.payload for line in read_rollout(path).lines
                    if line.type == "response_item"]
    seeds = {json.dumps(s, sort_keys=True): s for s in samples if isinstance(s, dict)}
    checked = vouched = 0
    for seed in seeds.values():
        for candidate in [seed, *_variants(seed)]:
            candidate = copy.deepcopy(candidate)
            checked += 1
            if validates_as_item(candidate):
                vouched += 1
                parse_response_item(candidate)  # must not raise
    valid_seeds = [s for s in seeds.values() if validates_as_item(s)]
    assert checked > 1000 and vouched > 100
    assert len(valid_seeds) >= len(seeds) - len(_INVALID)  # real items are vouched for
