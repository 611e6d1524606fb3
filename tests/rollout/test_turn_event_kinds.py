"""``TurnBuilder._event`` returns at once for an event kind outside ``_TURN_EVENTS``
(most of a rollout's events: ``token_count``, begin events, ...): that set must name
every kind its chain acts on, or such events would be dropped from the turns."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest

from threadline.rollout import turns
from threadline.rollout.history import HistoryReplay, reconstruct
from threadline.rollout.reader import read_rollout

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")


def _compared_kinds() -> set[str]:
    """The string constants ``_event`` compares ``kind`` with (``==`` or ``in``)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(turns.TurnBuilder._event)))
    kinds: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) \
                and node.left.id == "kind":
            for right in node.comparators:
                for const in ast.walk(right):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str):
                        kinds.add(const.value)
    return kinds


def test_the_set_names_every_kind_the_chain_acts_on() -> None:
    compared = _compared_kinds()
    assert "agent_message" in compared and "thread_rolled_back" in compared  # the walk works
    assert compared | set(turns._TOOL_END_EVENTS) == turns._TURN_EVENTS


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


def test_the_early_return_changes_no_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []
    paths += sorted(Path(__file__).resolve().parents[1].rglob("*.jsonl"))
    if not paths:
        pytest.skip("no rollouts here")
    fast = [reconstruct(read_rollout(path)).turns for path in paths]
    monkeypatch.setattr(turns, "_TURN_EVENTS", _Everything())
    slow = [reconstruct(read_rollout(path)).turns for path in paths]
    assert fast == slow


def test_the_replay_is_given_every_event_it_acts_on() -> None:
    """``LinePass`` hands ``HistoryReplay.event_payload`` only the kinds in its ``EVENTS``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(HistoryReplay.event_payload)))
    compared = {const.value for node in ast.walk(tree) if isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Name) and node.left.id == "event"
                for right in node.comparators for const in ast.walk(right)
                if isinstance(const, ast.Constant) and isinstance(const.value, str)}
    assert compared == set(HistoryReplay.EVENTS) == {"task_started", "turn_started",
                                                     "thread_rolled_back"}
