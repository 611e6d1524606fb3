"""``review/start`` over the real stdio app-server against the mock model.

What real Codex 0.169 does (recorded against the same mock): the response carries the turn
in progress with the target's hint as its one user message; the turn shows an
``enteredReviewMode`` item, the reviewer's request as a user message, then an
``exitedReviewMode`` item and an agent message whose text is the JSON review rendered
(explanation, ``Review comment:``, ``- title — path:start-end`` and the indented body).
The reviewer samples without the thread's conversation, with the read-and-run tools only;
the thread's history keeps the review for its next turn.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer, StartClient
from tests.support.mock_model import Gate, MockModel, function_call, text
from tests.support.stores import StoreUnderTest, both_stores

FINDING = {
    "title": "[P1] Loop skips the last element",
    "body": "`range(len(l) - 1)` stops one short.\nIterate over the list itself.",
    "confidence_score": 0.8,
    "priority": 1,
    "code_location": {"absolute_file_path": "/w/a.py", "line_range": {"start": 2, "end": 3}},
}
REVIEW = {
    "findings": [FINDING],
    "overall_correctness": "patch is incorrect",
    "overall_explanation": "One real bug.",
    "overall_confidence_score": 0.7,
}
RENDERED = (
    "One real bug.\n\nReview comment:\n\n"
    "- [P1] Loop skips the last element \u2014 /w/a.py:2-3\n"
    "  `range(len(l) - 1)` stops one short.\n  Iterate over the list itself."
)


def _repo(root: Path) -> Path:
    ws = root / "ws"
    ws.mkdir()
    script = (
        "git init -q -b main && git config user.email t@t && git config user.name t && "
        "printf 'x = 1\\n' > a.py && git add . && git commit -qm init && "
        "git checkout -qb feature && printf 'x = 2\\n' > a.py && git commit -qam change"
    )
    subprocess.run(script, shell=True, cwd=ws, check=True)
    return ws


async def _until_completed(client: Any, turn_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        message = await client.next_message(20)
        out.append(message)
        if message.get("method") == "turn/completed" and message["params"]["turn"]["id"] == turn_id:
            return out


def _texts(body: dict[str, Any]) -> list[str]:
    return [
        part.get("text", "")
        for item in body["input"]
        if item.get("type") == "message"
        for part in item["content"]
    ]


@both_stores
async def test_inline_review_of_a_base_branch_runs_a_separate_reviewer_and_renders_its_findings(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    ws = _repo(tmp_path)
    client = await start_client(cwd=ws)
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    mock_model.enqueue(text("earlier answer"))
    turn = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hello there"}]}
    )
    await _until_completed(client, turn["turn"]["id"])

    mock_model.enqueue(
        function_call("exec_command", {"cmd": "git diff main"}), text(json.dumps(REVIEW))
    )
    result = await client.request(
        "review/start", {"threadId": thread_id, "target": {"type": "baseBranch", "branch": "main"}}
    )
    assert result["reviewThreadId"] == thread_id
    review_turn = result["turn"]
    assert review_turn["status"] == "inProgress"
    assert review_turn["rootTurnId"] is None
    assert review_turn["items"] == [
        {
            "type": "userMessage",
            "id": review_turn["id"],
            "clientId": None,
            "content": [{"type": "text", "text": "changes against 'main'", "text_elements": []}],
            "startedAtMs": None,
            "completedAtMs": None,
        }
    ]
    messages = await _until_completed(client, review_turn["id"])
    completed = [m["params"]["item"] for m in messages if m.get("method") == "item/completed"]
    kinds = [i["type"] for i in completed]
    assert kinds[0] == "enteredReviewMode"
    assert completed[0]["review"] == "changes against 'main'"
    assert "commandExecution" in kinds
    assert kinds[-2:] == ["exitedReviewMode", "agentMessage"]
    assert completed[-2]["review"] == RENDERED
    assert completed[-1]["text"] == RENDERED
    # The reviewer's raw JSON answer is not completed as an agent message of the thread.
    assert all(i["text"] == RENDERED for i in completed if i["type"] == "agentMessage")
    reviewer_request = next(i for i in completed if i["type"] == "userMessage")
    merge_base = subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ws, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert merge_base in reviewer_request["content"][0]["text"]
    final = messages[-1]["params"]["turn"]
    assert final["status"] == "completed"
    assert [i["text"] for i in final["items"]] == [RENDERED]
    for m in messages:
        if m.get("method", "").startswith("item/"):
            assert m["params"]["turnId"] == review_turn["id"]

    # What the reviewer was sent: its own instructions and history, reviewer tools only.
    first, second = mock_model.requests[1], mock_model.requests[2]
    body = first.body
    instructions = _texts(body)[0]  # the instructions open the input, as in Codex
    assert body["input"][0]["role"] == "developer"
    assert "overall_correctness" in instructions
    assert not any("hello there" in t for t in _texts(body))
    assert any(merge_base in t for t in _texts(body))
    names = {t.get("name") for t in body["tools"]}
    assert "exec_command" in names
    assert not names & {"apply_patch", "update_plan"}
    assert _texts(second.body)[0] == instructions

    # The thread's next turn sees the review (the user action and the rendered answer).
    mock_model.enqueue(text("will fix"))
    turn = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "fix it"}]}
    )
    await _until_completed(client, turn["turn"]["id"])
    follow = mock_model.requests[3].body
    texts = _texts(follow)
    assert any("hello there" in t for t in texts)
    assert any("<user_action>" in t and RENDERED in t for t in texts)
    assert RENDERED in texts
    assert not any("overall_correctness" in t for t in texts)

    # The rollout keeps Codex's review lines and the history messages.
    path = (await client.request("thread/read", {"threadId": thread_id}))["thread"]["path"]
    lines = store.lines(path)
    events = [ln["payload"] for ln in lines if ln["type"] == "event_msg"]
    entered = next(e for e in events if e["type"] == "entered_review_mode")
    assert entered["target"] == {"type": "baseBranch", "branch": "main"}
    assert entered["user_facing_hint"] == "changes against 'main'"
    exited = next(e for e in events if e["type"] == "exited_review_mode")
    assert exited["review_output"]["findings"][0]["title"] == FINDING["title"]
    assert exited["review_output"]["overall_correctness"] == "patch is incorrect"


async def test_a_review_answer_that_is_not_json_is_the_review_text(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    ws = _repo(tmp_path)
    client = await start_client(cwd=ws)
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    mock_model.enqueue(text("Looks fine to me."))
    result = await client.request(
        "review/start",
        {"threadId": thread_id, "target": {"type": "custom", "instructions": "Check naming."}},
    )
    assert result["turn"]["items"][0]["content"][0]["text"] == "Check naming."
    messages = await _until_completed(client, result["turn"]["id"])
    completed = [m["params"]["item"] for m in messages if m.get("method") == "item/completed"]
    exited = next(i for i in completed if i["type"] == "exitedReviewMode")
    assert exited["review"] == "Looks fine to me."
    assert _texts(mock_model.requests[0].body)[-1] == "Check naming."


async def test_review_start_refuses_bad_targets_and_unknown_threads(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    ws = _repo(tmp_path)
    client = await start_client(cwd=ws)
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    cases = [
        ({"type": "custom", "instructions": "  "}, "instructions must not be empty"),
        ({"type": "baseBranch", "branch": ""}, "branch must not be empty"),
        ({"type": "commit", "sha": ""}, "sha must not be empty"),
    ]
    for target, message in cases:
        err = await client.request_error("review/start", {"threadId": thread_id, "target": target})
        assert err["code"] == -32600
        assert message in err["message"]
    err = await client.request_error(
        "review/start",
        {"threadId": thread_id, "target": {"type": "uncommittedChanges"}, "delivery": "detached"},
    )
    assert err["code"] == -32600
    assert "delivery" in err["message"]
    err = await client.request_error(
        "review/start",
        {
            "threadId": "00000000-0000-0000-0000-000000000000",
            "target": {"type": "uncommittedChanges"},
        },
    )
    assert err["code"] == -32600
    assert "thread not found" in err["message"]
    assert mock_model.requests == []
    # Nothing was lost: the thread still takes a review.
    mock_model.enqueue(text(json.dumps({**REVIEW, "findings": []})))
    result = await client.request(
        "review/start",
        {"threadId": thread_id, "target": {"type": "commit", "sha": "abcdef0123", "title": "Fix"}},
    )
    assert result["turn"]["items"][0]["content"][0]["text"] == "commit abcdef0: Fix"
    messages = await _until_completed(client, result["turn"]["id"])
    exited = next(
        m["params"]["item"]
        for m in messages
        if m.get("method") == "item/completed" and m["params"]["item"]["type"] == "exitedReviewMode"
    )
    assert exited["review"] == "One real bug."


async def test_an_interrupted_review_exits_review_mode_and_a_review_alone_is_durable(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    ws = _repo(tmp_path)
    server = await launch_server(cwd=ws)
    client = server.client
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    mock_model.enqueue(text(json.dumps(REVIEW)))
    done = await client.request(
        "review/start", {"threadId": thread_id, "target": {"type": "uncommittedChanges"}}
    )
    await _until_completed(client, done["turn"]["id"])

    gate = Gate()
    mock_model.enqueue(text("never finished", gate=gate))
    held = await client.request(
        "review/start", {"threadId": thread_id, "target": {"type": "uncommittedChanges"}}
    )
    turn_id = held["turn"]["id"]
    await client.wait_for_notification("item/started")
    steer = await client.request_error(
        "turn/steer",
        {
            "threadId": thread_id,
            "expectedTurnId": turn_id,
            "input": [{"type": "text", "text": "x"}],
        },
    )
    assert steer["data"]["codexErrorInfo"] == {"activeTurnNotSteerable": {"turnKind": "review"}}
    busy = await client.request_error(
        "review/start", {"threadId": thread_id, "target": {"type": "uncommittedChanges"}}
    )
    assert busy["code"] == -32600
    await client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
    messages = await _until_completed(client, turn_id)
    gate.set()
    assert messages[-1]["params"]["turn"]["status"] == "interrupted"
    completed = [m["params"]["item"] for m in messages if m.get("method") == "item/completed"]
    assert completed[-1]["type"] == "exitedReviewMode"
    assert not [i for i in completed if i["type"] == "agentMessage"]

    # A thread whose only turns are reviews has a rollout: a new server reads them back.
    await server.stop()
    again = await launch_server(cwd=ws)
    read = await again.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
    first, second = read["thread"]["turns"][:2]
    assert first["status"] == "completed"
    # The reloaded review items read as they did live: the hint, then the rendered review.
    reviews = [(i["type"], i["review"]) for i in first["items"] if "review" in i]
    assert reviews == [("enteredReviewMode", "current changes"), ("exitedReviewMode", RENDERED)]
    assert RENDERED in [i.get("text") for i in first["items"] if i["type"] == "agentMessage"]
    assert [i["review"] for i in second["items"] if i["type"] == "exitedReviewMode"] == [
        "Review interrupted."
    ]


async def test_review_model_from_the_config_is_the_reviewers_model(
    start_client: StartClient, mock_model: MockModel, mock_home: Path, tmp_path: Path
) -> None:
    config = mock_home / "config.toml"
    config.write_text('review_model = "gpt-5.4"\n' + config.read_text())
    ws = _repo(tmp_path)
    client = await start_client(cwd=ws)
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    mock_model.enqueue(text(json.dumps(REVIEW)), text("after"))
    result = await client.request(
        "review/start", {"threadId": thread_id, "target": {"type": "uncommittedChanges"}}
    )
    await _until_completed(client, result["turn"]["id"])
    turn = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "go on"}]}
    )
    await _until_completed(client, turn["turn"]["id"])
    reviewer, thread_turn = (r.body for r in mock_model.requests)
    assert reviewer["model"] == "gpt-5.4"
    assert thread_turn["model"] != "gpt-5.4"
