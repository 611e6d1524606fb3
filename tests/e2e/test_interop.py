"""Codex 0.169's own rollouts (paginated format, forks included) served by threadline:
listed, read, resumed and forked with the turns and usage Codex reported for them; from
the rollout files (the local store) and after ``store migrate --from-home`` (PostgreSQL)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.support.mock_model import MockModel, text, usage
from tests.support.stores import StoreUnderTest, both_stores

pytestmark = both_stores

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "codex-0.169.0"
ROLLOUTS = REFERENCE / "rollouts"
TRACES = REFERENCE / "traces"


def _copy_reference(home: Path) -> dict[str, Path]:
    """Copy Codex's sessions into ``home``; map thread id → rollout path."""
    shutil.copytree(ROLLOUTS / "sessions", home / "sessions")
    shutil.copy(ROLLOUTS / "session_index.jsonl", home / "session_index.jsonl")
    out: dict[str, Path] = {}
    for path in (home / "sessions").rglob("rollout-*.jsonl"):
        out[path.stem[-36:]] = path
    return out


def _last_token_info(
    path: Path, by_id: dict[str, Path], end_byte: int | None = None
) -> dict[str, Any] | None:
    """The newest token_count info, following a paginated fork into its parent
    (only up to the byte offset the fork's ``history_base`` names)."""
    data = path.read_bytes()
    if end_byte is not None:
        data = data[:end_byte]
    lines = [json.loads(raw) for raw in data.decode().splitlines() if raw.strip()]
    for line in reversed(lines):
        payload = line.get("payload") or {}
        if line.get("type") == "event_msg" and payload.get("type") == "token_count" and payload.get("info"):
            return dict(payload["info"])
    meta = lines[0]["payload"] if lines and lines[0]["type"] == "session_meta" else {}
    base = meta.get("history_base")
    if base and base.get("thread_id") in by_id:
        return _last_token_info(by_id[base["thread_id"]], by_id, base.get("end_byte_offset"))
    return None


def _trace_threads() -> list[tuple[str, list[dict[str, Any]]]]:
    """Every full-turns resume/read answer in the traces: (thread id, turns)."""
    found: list[tuple[str, list[dict[str, Any]]]] = []
    for trace in sorted(TRACES.glob("*.jsonl")):
        asked: dict[tuple[str, Any], dict[str, Any]] = {}
        for raw in trace.read_text().splitlines():
            record = json.loads(raw)
            msg = record.get("msg")
            if not isinstance(msg, dict):
                continue
            key = (record["conn"], msg.get("id"))
            if record["dir"] == "c2s" and msg.get("method") in ("thread/resume", "thread/read"):
                asked[key] = msg
            elif record["dir"] == "s2c" and "result" in msg and key in asked:
                params = asked.pop(key)["params"]
                turns = msg["result"]["thread"]["turns"]
                if turns:
                    found.append((params["threadId"], turns))
    return found


@pytest.fixture
async def reference_home(mock_home: Path, store: StoreUnderTest) -> dict[str, Path]:
    """Codex's sessions as the store's threads; maps thread id → the reference rollout
    (the same bytes as the copy, read for what the answers must show)."""
    if not ROLLOUTS.is_dir():
        pytest.fail(f"reference rollouts missing at {ROLLOUTS}")
    copies = _copy_reference(mock_home)
    await store.seed_home(mock_home)
    return {tid: ROLLOUTS / path.relative_to(mock_home) for tid, path in copies.items()}


async def test_reference_threads_listed_and_read_like_codex(
    launch_server: LaunchServer, reference_home: dict[str, Path]
) -> None:
    server = await launch_server()
    client = server.client
    listed = await client.request("thread/list", {"limit": 100, "modelProviders": []})
    ids = {t["id"] for t in listed["data"]}
    assert set(reference_home) <= ids
    names = {t["id"]: t["name"] for t in listed["data"]}
    assert names["01a21036-9187-74e1-bcad-4c760497a2ae"] == "Arithmetic quiz"
    checked = 0
    for thread_id, turns in _trace_threads():
        if thread_id not in reference_home:
            continue
        read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
        ours = read["thread"]["turns"]
        assert len(ours) >= len(turns), thread_id
        for theirs, mine in zip(turns, ours, strict=False):
            assert mine["id"] == theirs["id"]
            if theirs["status"] != "inProgress":
                assert mine["status"] == theirs["status"], (thread_id, theirs["id"])
                assert [i["type"] for i in mine["items"]] == [i["type"] for i in theirs["items"]]
        checked += 1
    assert checked >= 5


async def test_reference_threads_resume_and_fork_with_their_usage(
    launch_server: LaunchServer, reference_home: dict[str, Path], mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    resumed = 0
    for thread_id, path in sorted(reference_home.items()):
        expected = _last_token_info(path, reference_home)
        result = await client.request("thread/resume", {"threadId": thread_id})
        assert result["thread"]["id"] == thread_id
        if expected is not None:
            note = await client.wait_for_notification(
                "thread/tokenUsage/updated", predicate=lambda p, t=thread_id: p["threadId"] == t
            )
            total = note["params"]["tokenUsage"]["total"]
            assert total["totalTokens"] == expected["total_token_usage"]["total_tokens"]
            assert total["inputTokens"] == expected["total_token_usage"]["input_tokens"]
            turn_ids = [t["id"] for t in result["thread"]["turns"]]
            assert note["params"]["turnId"] in turn_ids
        fork = await client.request("thread/fork", {"threadId": thread_id})
        assert fork["thread"]["forkedFromId"] == thread_id
        assert len(fork["thread"]["turns"]) == len(result["thread"]["turns"])
        resumed += 1
    assert resumed == len(reference_home)

    # A Codex thread continues here; the model receives its earlier history.
    quiz = "01a21036-9187-74e1-bcad-4c760497a2ae"
    answers = []
    for raw in reference_home[quiz].read_text().splitlines():
        line = json.loads(raw)
        payload = line["payload"]
        if line["type"] == "response_item" and payload.get("role") == "assistant":
            answers.append(payload["content"][0]["text"])
    mock_model.enqueue(text("Continuing.", usage=usage(input=10, output=1)))
    await client.request("turn/start", {"threadId": quiz, "input": [{"type": "text", "text": "next?"}]})
    await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == quiz
    )
    sent = json.dumps(mock_model.requests[-1].body["input"])
    assert len(answers) == 3
    for answer in answers:
        assert json.dumps(answer)[1:-1] in sent
    assert "next?" in sent
    read = await client.request("thread/read", {"threadId": quiz, "includeTurns": True})
    assert len(read["thread"]["turns"]) == 4
    assert read["thread"]["turns"][-1]["status"] == "completed"
