"""Reconstruction checked against what real Codex 0.169 reported for the same rollouts.

For every ``thread/resume``, ``thread/fork`` and ``thread/read`` response in the reference
traces, the thread's rollout is cut to the lines written before that response (the
corpus shares one home across scenarios, so later turns must be ignored) and rebuilt.
Turn ids, statuses and item kinds must equal the response; the token usage replayed after
a resume/fork (total, last, window, turnId) must equal our restored snapshot.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from threadline.protocol.v2.common import dump_wire
from threadline.rollout.history import reconstruct
from threadline.rollout.paths import find_rollout_path
from threadline.rollout.reader import RolloutFile, read_rollout

REF = Path("/work/shared/reference/codex-0.169.0")
SCENARIOS = [
    "s01_basic", "s02_tool_call", "s03_approval_accept", "s03_approval_decline",
    "s09_multi_turn_usage", "s04_resume", "s04_resume_ws", "s05_fork", "s07_steer_interrupt",
    "s06_list_read", "s08_errors", "s10_large_resume", "s11_experimental_api",
]

pytestmark = pytest.mark.skipif(not REF.is_dir(), reason="reference corpus not available")


@dataclass
class Case:
    name: str
    ts: float
    thread: dict[str, Any]
    replay: dict[str, Any] | None
    trimmed: bool
    usage_only: bool = False


def _cases() -> list[Case]:
    cases: list[Case] = []
    for scenario in SCENARIOS:
        path = REF / "traces" / f"{scenario}.jsonl"
        if not path.exists():
            continue
        records = [json.loads(line) for line in path.read_text().splitlines()]
        methods: dict[tuple[str, Any], tuple[str, dict[str, Any]]] = {}
        for index, record in enumerate(records):
            msg = record.get("msg") or {}
            if record["dir"] == "c2s" and "method" in msg:
                methods[(record["conn"], msg.get("id"))] = (msg["method"], msg.get("params") or {})
                continue
            if record["dir"] != "s2c" or not isinstance(msg.get("result"), dict):
                continue
            method, params = methods.get((record["conn"], msg.get("id")), ("", {}))
            if method not in ("thread/resume", "thread/fork", "thread/read"):
                continue
            thread = msg["result"].get("thread")
            if not thread or (method == "thread/read" and not params.get("includeTurns")):
                continue
            usage_only = bool(params.get("excludeTurns"))
            replay = None
            if method in ("thread/resume", "thread/fork"):
                for later in records[index + 1 : index + 8]:
                    lm = later.get("msg") or {}
                    if later["conn"] != record["conn"]:
                        continue
                    if "id" in lm:  # the next response: no replay was sent for this call
                        break
                    if lm.get("method") == "thread/tokenUsage/updated":
                        replay = lm["params"]
                        break
            cases.append(
                Case(f"{scenario}#{record['seq']}:{method}", record["ts"], thread, replay,
                     "trimmed" in record, usage_only)
            )
            if usage_only and replay is None:
                cases.pop()
    return cases


CASES = _cases() if REF.is_dir() else []


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("codex-home")
    shutil.copytree(REF / "rollouts" / "sessions", target / "sessions")
    for path in (target / "sessions").rglob("*.jsonl.trimmed"):
        path.chmod(0o644)
        path.rename(path.with_suffix(""))
    for path in (target / "sessions").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _cut(rollout: RolloutFile, ts: float) -> RolloutFile:
    keep = [line for line in rollout.lines if _epoch(line.timestamp) <= ts]
    own_start = min(rollout.own_start, len(keep))
    return replace(rollout, lines=keep, own_start=own_start)


def _shape(turns: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    return [(t["id"], t["status"], [i["type"] for i in t["items"]]) for t in turns]


def test_cases_were_collected() -> None:
    assert len(CASES) >= 15
    assert sum(1 for c in CASES if c.replay) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_turns_and_usage_match_codex(home: Path, case: Case) -> None:
    path = find_rollout_path(home, case.thread["id"])
    assert path is not None, case.thread["id"]
    rollout = _cut(read_rollout(path), case.ts)
    live = case.thread["status"]["type"] == "active"
    rebuilt = reconstruct(rollout, live=live)

    if case.usage_only:
        assert case.thread["turns"] == []
        assert case.replay is not None
    expected = _shape(case.thread["turns"]) if not case.usage_only else _shape(
        [dump_wire(t) for t in rebuilt.turns])
    ours = _shape([dump_wire(t) for t in rebuilt.turns])
    if case.trimmed:
        ours = ours[:2] + ours[-1:]
    assert ours == expected
    assert rebuilt.preview == case.thread["preview"]

    if not case.trimmed and not case.usage_only:
        # Item payloads too (ids, text, command details), not only kinds.
        for ref_turn, our_turn in zip(case.thread["turns"], rebuilt.turns, strict=True):
            assert our_turn.started_at == ref_turn["startedAt"]
            assert our_turn.completed_at == ref_turn["completedAt"]
            for ref_item, our_item in zip(ref_turn["items"], our_turn.items, strict=True):
                wire = dump_wire(our_item)
                for key in ("id", "text", "command", "cwd", "status", "exitCode", "durationMs",
                            "aggregatedOutput", "summary", "content", "commandActions"):
                    if key in ref_item:
                        assert wire.get(key) == ref_item[key], (key, ref_item["id"])

    if case.replay is not None:
        assert rebuilt.token_info is not None
        usage = case.replay["tokenUsage"]
        info = rebuilt.token_info
        assert info.total_token_usage.total_tokens == usage["total"]["totalTokens"]
        assert info.total_token_usage.input_tokens == usage["total"]["inputTokens"]
        assert info.total_token_usage.cached_input_tokens == usage["total"]["cachedInputTokens"]
        assert info.total_token_usage.output_tokens == usage["total"]["outputTokens"]
        assert info.total_token_usage.reasoning_output_tokens == usage["total"]["reasoningOutputTokens"]
        assert info.last_token_usage.total_tokens == usage["last"]["totalTokens"]
        assert info.last_token_usage.input_tokens == usage["last"]["inputTokens"]
        assert info.model_context_window == usage["modelContextWindow"]
        assert rebuilt.usage_turn_id == case.replay["turnId"]


def test_fork_chains_are_followed(home: Path) -> None:
    threads = json.loads((REF / "scenario-threads.json").read_text())
    fork_of_fork = find_rollout_path(home, "01a21036-f0b9-7991-98d1-757875f534fe")
    assert fork_of_fork is not None
    rollout = read_rollout(fork_of_fork)
    assert rollout.format == "paginated"
    assert [p.name[-len(".jsonl") - 36 : -len(".jsonl")] for p in rollout.ancestors] == [
        threads["s05_fork"],
        threads["s01_thread"],
    ]
    ordinals = [line.ordinal for line in rollout.lines]
    assert ordinals == list(range(len(ordinals)))  # one continuous history, no gaps
    assert rollout.meta is not None and rollout.meta.id.endswith("757875f534fe")
    rebuilt = reconstruct(rollout)
    assert len(rebuilt.turns) == 6
    assert rebuilt.preview == "Say hello"
    # The model history is the s01 history plus the fork's own turn.
    texts = [getattr(i, "role", None) for i in rebuilt.history]
    assert texts.count("assistant") == 6


def test_missing_fork_parent_is_reported_not_fatal(tmp_path: Path, home: Path) -> None:
    source = find_rollout_path(home, "01a21036-e24c-7003-98b1-9a0b6c7ddd83")
    assert source is not None
    lonely = tmp_path / "sessions" / "2026" / "11" / "25" / source.name
    lonely.parent.mkdir(parents=True)
    shutil.copy(source, lonely)
    rollout = read_rollout(lonely)
    assert rollout.missing_base == "01a21036-9187-74e1-bcad-4c760497a2ae"
    assert rollout.own_start == 0
    assert reconstruct(rollout).turns == []
