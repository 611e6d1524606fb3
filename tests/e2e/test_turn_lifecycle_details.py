"""Turn lifecycle details real clients rely on (issue #14, Deliver 3), over the real stdio
app-server against the mock model, each as real Codex 0.169 showed it against the same mock:

- ``turn/start``'s ``outputSchema`` reaches the model as ``text.format`` (a strict
  ``json_schema`` named ``codex_output_schema``) for that turn only; on Chat Completions
  as ``response_format``;
- ``thread/settings/updated`` before the ``turn/start`` answer when the turn changes the
  settings (model, effort, approval, sandbox, cwd), and not when it changes nothing;
- ``thread/readState/changed`` as each turn ends, before the thread goes idle: the first
  unread turn (the first that ended) and a new revision; both only to clients that set
  ``experimentalApi`` (Codex sends neither to a stable client);
- ``rootTurnId``: the turn's own id for a started turn;
- ``commandActions``: a ``read`` names its file by absolute path, resolved against the
  command's cwd (``listFiles`` and ``search`` keep the path the command gave, as in Codex).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import StartClient
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, function_call, text

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


async def _turn(
    client: AppServerClient, thread_id: str, words: str, **params: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Start a turn; return its answer, what came before the answer, and what followed
    up to its ``turn/completed``."""
    before_mark = len(client.received())
    result = await client.request(
        "turn/start",
        {"threadId": thread_id, "input": [{"type": "text", "text": words}], **params},
    )
    before = client.received()[before_mark:]
    after: list[dict[str, Any]] = []
    while True:
        message = await client.next_message(20)
        after.append(message)
        if message.get("method") == "turn/completed":
            return result["turn"], before, after


async def _thread(client: AppServerClient, cwd: Path) -> str:
    result = await client.request("thread/start", {"cwd": str(cwd)})
    return str(result["thread"]["id"])


async def test_output_schema_reaches_the_model_as_text_format_for_that_turn_only(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client()
    thread_id = await _thread(client, tmp_path)
    mock_model.enqueue(text('{"answer": "4"}'), text("plain"))
    await _turn(client, thread_id, "2+2?", outputSchema=SCHEMA)
    await _turn(client, thread_id, "and now?")
    first, second = (r.body for r in mock_model.requests)
    assert first["text"] == {
        "format": {
            "type": "json_schema",
            "strict": True,
            "schema": SCHEMA,
            "name": "codex_output_schema",
        }
    }
    assert "text" not in second
    err = await client.request_error(
        "turn/start",
        {"threadId": thread_id, "input": [{"type": "text", "text": "x"}], "outputSchema": "no"},
    )
    assert err["code"] == -32600
    assert "outputSchema" in err["message"]


async def test_output_schema_on_chat_completions_is_response_format(
    start_client: StartClient, mock_model: MockModel, mock_home: Path, tmp_path: Path
) -> None:
    config = mock_home / "config.toml"
    config.write_text(config.read_text().replace('wire_api = "responses"', 'wire_api = "chat"'))
    client = await start_client()
    thread_id = await _thread(client, tmp_path)
    mock_model.enqueue(text('{"answer": "4"}'))
    await _turn(client, thread_id, "2+2?", outputSchema=SCHEMA)
    (request,) = mock_model.requests
    assert request.path.endswith("/chat/completions")
    assert request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "codex_output_schema", "schema": SCHEMA, "strict": True},
    }


EXPERIMENTAL = {"experimentalApi": True}
"""Codex sends ``thread/settings/updated`` and ``thread/readState/changed`` only to clients
that opt into the experimental API."""


async def test_settings_updated_announces_a_turn_that_changes_the_settings(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client(capabilities=EXPERIMENTAL)
    thread_id = await _thread(client, tmp_path)
    sub = tmp_path / "sub"
    sub.mkdir()
    mock_model.set_default(text("ok"))

    turn, before, _ = await _turn(client, thread_id, "plain")
    assert not [m for m in before if m.get("method") == "thread/settings/updated"]
    assert turn["rootTurnId"] == turn["id"]

    changes = {
        "model": "gpt-5.4",
        "effort": "high",
        "approvalPolicy": "on-request",
        "sandboxPolicy": {"type": "readOnly"},
    }
    _, before, _ = await _turn(client, thread_id, "changed", **changes)
    (updated,) = [m for m in before if m.get("method") == "thread/settings/updated"]
    settings = updated["params"]["threadSettings"]
    assert updated["params"]["threadId"] == thread_id
    assert settings["model"] == "gpt-5.4"
    assert settings["effort"] == "high"
    assert settings["approvalPolicy"] == "on-request"
    assert settings["sandboxPolicy"]["type"] == "readOnly"
    assert settings["cwd"] == str(tmp_path)
    assert settings["collaborationMode"]["settings"]["model"] == "gpt-5.4"

    _, before, _ = await _turn(client, thread_id, "same again", model="gpt-5.4", effort="high")
    assert not [m for m in before if m.get("method") == "thread/settings/updated"]

    _, before, _ = await _turn(client, thread_id, "elsewhere", cwd=str(sub))
    (updated,) = [m for m in before if m.get("method") == "thread/settings/updated"]
    assert updated["params"]["threadSettings"]["cwd"] == str(sub)
    assert updated["params"]["threadSettings"]["model"] == "gpt-5.4"


async def test_read_state_changes_as_each_turn_ends(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client(capabilities=EXPERIMENTAL)
    thread_id = await _thread(client, tmp_path)
    mock_model.set_default(text("ok"))
    first, _, after = await _turn(client, thread_id, "one")
    methods = [m.get("method") for m in after]
    read_at = methods.index("thread/readState/changed")
    idle_at = max(
        i
        for i, m in enumerate(after)
        if m.get("method") == "thread/status/changed" and m["params"]["status"]["type"] == "idle"
    )
    assert read_at < idle_at < methods.index("turn/completed")
    state = after[read_at]["params"]
    assert state["threadId"] == thread_id
    assert state["readState"]["firstUnread"] == {"type": "turn", "turnId": first["id"]}
    _, _, after = await _turn(client, thread_id, "two")
    (again,) = [m["params"] for m in after if m.get("method") == "thread/readState/changed"]
    assert again["readState"]["firstUnread"] == {"type": "turn", "turnId": first["id"]}
    assert again["readState"]["revision"] != state["readState"]["revision"]


async def test_a_read_action_names_its_file_by_absolute_path(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    client = await start_client()
    thread_id = await _thread(client, tmp_path)
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "cat a.py"}),
        function_call("exec_command", {"cmd": "ls sub"}),
        text("done"),
    )
    _, _, after = await _turn(client, thread_id, "look")
    done = [
        m["params"]["item"]
        for m in after
        if m.get("method") == "item/completed" and m["params"]["item"]["type"] == "commandExecution"
    ]
    started = [
        m["params"]["item"]
        for m in after
        if m.get("method") == "item/started" and m["params"]["item"]["type"] == "commandExecution"
    ]
    assert done[0]["commandActions"] == [
        {"type": "read", "command": "cat a.py", "name": "a.py", "path": str(tmp_path / "a.py")}
    ]
    assert started[0]["commandActions"] == done[0]["commandActions"]
    assert done[1]["commandActions"] == [{"type": "listFiles", "command": "ls sub", "path": "sub"}]


async def test_a_stable_client_gets_neither_settings_nor_read_state_notifications(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client()
    thread_id = await _thread(client, tmp_path)
    mock_model.set_default(text("ok"))
    _, before, after = await _turn(client, thread_id, "changed", model="gpt-5.4", effort="high")
    methods = {m.get("method") for m in before + after}
    assert "turn/completed" in methods
    assert not methods & {"thread/settings/updated", "thread/readState/changed"}
