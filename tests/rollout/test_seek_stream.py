"""A turn-less resume of a rollout with no intact compaction (``rollout.seek``'s streamed
read): it decodes only the model's lines before the last turn and takes the turns from the
offset index, and must give what the slow path gives, ``reconstruct(read_rollout(path))``
with every turn but the last stubbed (``itemsView: "notLoaded"``), or say ``None``.

Compared on Codex's own rollouts, the e2e data files and crafted ones (a legacy
compaction, a compaction without window numbers, a cut-off ask, an open last turn, a
name, usage before and in the last turn, lines in unusual shapes that must not be
skipped), live and not; through ``load_history`` too (what ``thread/resume`` runs).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.crafted_rollout import TS, CraftedRollout

from threadline.protocol.items import dump_response_item
from threadline.rollout.history import Reconstruction, reconstruct
from threadline.rollout.offsets import model_cut, scan
from threadline.rollout.reader import read_rollout
from threadline.rollout.seek import resume_from_index

REFERENCE = Path("/work/shared/reference/codex-0.169.0/rollouts/sessions")
DATA = Path(__file__).resolve().parents[1] / "e2e" / "data"
THREAD = "019a0000-0000-7000-8000-0000000000ab"


_ROLLOUT = CraftedRollout(THREAD, compact=True)
_line, _ev, _msg, _usage, _turn, _write = (_ROLLOUT.rec, _ROLLOUT.ev, _ROLLOUT.msg, _ROLLOUT.usage,
                                           _ROLLOUT.turn, _ROLLOUT.write)


def _compacted(summary: str, *, replacement: bool = True, window: int | None = None) -> str:
    payload: dict[str, Any] = {"message": summary}
    if replacement:
        payload["replacement_history"] = [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": summary}]}
        ]
    if window is not None:
        payload.update(window_id=f"w{window}", first_window_id="w0", window_number=window)
    return _line("compacted", payload)


def _crafted(tmp: Path) -> list[Path]:
    t = [_turn(f"t{i}", f"question {i}", tokens=100 + i) for i in range(4)]
    # Lines whose duplicate top-level type makes them model items (the last key wins).
    hidden_item = ('{"timestamp":"2026-11-20T10:00:00.000Z","type":"event_msg","payload":{"type":"message","role":'
                   '"assistant","content":[{"type":"output_text","text":"hidden"}]},'
                   '"type":"response_item"}')
    escaped = ('{"timestamp":"2026-11-20T10:00:00.000Z","type":"turn_context","payload":{"type":"message","role":'
               '"user","content":[{"type":"input_text","text":"esc"}]},'
               '"typ\\u0065":"response_item"}')
    no_payload_type = ('{"timestamp":"2026-11-20T10:00:00.000Z","type":"event_msg","payload":{"message":"x","role":'
                       '"user","content":[]},"type":"response_item"}')
    return [
        _write(tmp, "plain", t[0] + t[1] + t[2]),
        _write(tmp, "open-last", t[0] + t[1] + _turn("t9", "still going", end=False, tokens=50)),
        _write(tmp, "usage-early", t[0] + t[1] + _turn("t9", "no usage here")),
        _write(tmp, "no-usage", [*_turn("a", "q"), *_turn("b", "r")]),
        _write(tmp, "asked", t[0] + t[1] + _turn("t9", "run it", end=False) + [
            _line("response_item", {"type": "function_call", "name": "shell",
                                    "arguments": "{}", "call_id": "call-1"}),
            _ev("client_ask_opened", turn_id="t9", approval_id="a1", ask={"type": "exec"})]),
        _write(tmp, "legacy-compaction", t[0] + t[1] + [_compacted("S", replacement=False)] + t[2]),
        _write(tmp, "no-window", t[0] + [_compacted("S")] + t[1] + t[2]),
        _write(tmp, "window-before-legacy", t[0] + [_compacted("S", window=2)] + t[1]
               + [_compacted("L", replacement=False)] + t[2]),
        _write(tmp, "compaction-in-last", t[0] + t[1] + _turn("t9", "q", end=False)
               + [_compacted("S", window=1)]),
        _write(tmp, "named", t[0] + [_ev("thread_name_updated", thread_name="a name")] + t[1]),
        _write(tmp, "unusual-lines", t[0][:-1] + [hidden_item, escaped, no_payload_type,
                                                  "not json", "[1]"] + t[0][-1:] + t[1] + t[2]),
        _write(tmp, "keys-reordered", t[0] + [json.dumps(
            {"type": "response_item", "timestamp": TS, "payload": {
                "type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "reordered"}]}})] + t[1]),
        _write(tmp, "words-in-texts", t[0] + _turn("w", "a response_item, compacted") + t[1]),
        _write(tmp, "context-window", t[0] + t[1],
               meta={"context_window": {"window_id": "first"}}),
    ]


def _reference() -> list[Path]:
    files = sorted(REFERENCE.rglob("*.jsonl")) if REFERENCE.is_dir() else []
    return files + sorted(DATA.glob("*.jsonl"))


def _assert_like_slow_path(path: Path, light: Reconstruction, *, live: bool) -> None:
    full = reconstruct(read_rollout(path), live=live)
    assert [t.model_dump() for t in light.turns[:-1]] == [
        t.model_copy(update={"items": [], "items_view": "notLoaded"}).model_dump()
        for t in full.turns[:-1]
    ], path.name
    assert light.turns[-1].model_dump() == full.turns[-1].model_dump(), path.name
    assert [dump_response_item(i) for i in light.history] == [
        dump_response_item(i) for i in full.history], path.name
    for name in ("meta", "token_info", "usage_turn_id", "preview", "name", "model", "format",
                 "open_turn_id", "cut_off", "window"):
        assert getattr(light, name) == getattr(full, name), (path.name, name)
    assert light.stubbed_turns == len(full.turns) - 1


@pytest.mark.parametrize("live", [False, True])
def test_streamed_turnless_resume_equals_the_slow_path(tmp_path: Path, live: bool) -> None:
    served: set[str] = set()
    for path in _reference() + _crafted(tmp_path):
        index = scan(path)
        got = resume_from_index(index, live=live)
        if got is None:
            continue
        served.add(path.name)
        _assert_like_slow_path(path, got[1], live=live)
    for case in ("plain", "open-last", "usage-early", "no-usage", "asked", "legacy-compaction",
                 "no-window", "window-before-legacy", "compaction-in-last", "named",
                 "unusual-lines", "keys-reordered", "words-in-texts", "context-window"):
        assert f"rollout-2026-11-20T10-00-00-{case}.jsonl" in served, case


def test_the_crafted_rollouts_reach_what_they_are_for(tmp_path: Path) -> None:
    paths = {p.name.split("-", 6)[-1][: -len(".jsonl")]: p for p in _crafted(tmp_path)}
    recon = {name: reconstruct(read_rollout(p)) for name, p in paths.items()}
    # no intact compaction (or one without window numbers): the streamed read, not the
    # seek from a cut
    assert all(model_cut(scan(p)) is None for n, p in paths.items()
               if n not in ("compaction-in-last", "no-window"))
    assert recon["asked"].cut_off is not None
    assert recon["open-last"].open_turn_id == "t9" and recon["open-last"].usage_turn_id == "t9"
    assert recon["usage-early"].usage_turn_id == "t1"
    assert recon["window-before-legacy"].window is not None
    assert recon["context-window"].window is not None
    assert recon["named"].name == "a name"
    texts = [json.dumps(dump_response_item(i)) for i in recon["unusual-lines"].history]
    assert any("hidden" in t for t in texts) and any("esc" in t for t in texts)
    assert any("reordered" in json.dumps(dump_response_item(i))
               for i in recon["keys-reordered"].history)


def test_what_the_stream_cannot_match_is_left_to_the_file(tmp_path: Path) -> None:
    base = _turn("a", "q") + _turn("b", "r")
    cases = {
        "rollback": [*base, _ev("thread_rolled_back", num_turns=1), *_turn("c", "s")],
        "implicit": [_msg("user", "hi"), _ev("user_message", message="hi"), *base],
        "one-turn": _turn("a", "q"),
    }
    for name, body in cases.items():
        assert resume_from_index(scan(_write(tmp_path, name, body))) is None, name
    # A last line without its newline: the index has not seen it, a full read decodes it.
    torn = _write(tmp_path, "no-newline", base)
    torn.write_text(torn.read_text().rstrip("\n"), encoding="utf-8")
    assert resume_from_index(scan(torn)) is None


def test_load_history_resume_without_turns_uses_it(tmp_path: Path) -> None:
    from threadline.store import rollouts
    from threadline.store.base import StoredRef

    home = tmp_path / "home"
    home.mkdir()
    body = [line for i in range(30) for line in _turn(f"t{i}", f"q{i}", tokens=10 + i)]
    path = _write(tmp_path, "loaded", body + _turn("last", "open", end=False))
    ref = StoredRef(THREAD, path)
    stored = asyncio.run(rollouts.load_history(ref, resume_home=home, turns=False))
    assert stored.recon.stubbed_turns == 30
    assert len(stored.lines) < 10  # only the last turn's lines were kept
    _assert_like_slow_path(path, stored.recon, live=False)

