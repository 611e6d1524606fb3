"""view_image over stdio: the image reaches the next model request as the call's output
(an ``input_image`` content item, as Codex 0.169 sends it), with an ``imageView`` item;
errors reach the model in Codex's words and show no item."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.mock_model import MockModel, function_call, text


def png(width: int, height: int) -> bytes:
    """A real RGB PNG of ``width`` x ``height`` red pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def outputs(mock: MockModel) -> dict[str, Any]:
    """Every ``function_call_output`` of the last model request, by call id."""
    items = mock.requests[-1].body["input"]
    return {i["call_id"]: i["output"] for i in items if i.get("type") == "function_call_output"}


async def test_view_image_sends_the_image_and_shows_an_item(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    picture = png(4, 3)
    (work / "red.png").write_bytes(picture)
    (work / "notes.png").write_text("not an image at all")
    (work / "pics").mkdir()
    mock_model.enqueue(
        function_call("view_image", {"path": "red.png"}, call_id="v1"),
        function_call("view_image", {"path": "missing.png"}, call_id="v2"),
        function_call("view_image", {"path": "notes.png"}, call_id="v3"),
        function_call("view_image", {"path": "pics"}, call_id="v4"),
        text("a red picture"),
    )
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {"cwd": str(work)}))["thread"]["id"]
    await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "look"}]}
    )
    await client.wait_for_notification("turn/completed", timeout=30)

    first = mock_model.requests[0].body
    assert "view_image" in [t.get("name") for t in first["tools"]]
    # The call right after the first view_image already carries the image.
    after_first = mock_model.requests[1].body["input"][-1]
    url = "data:image/png;base64," + base64.b64encode(picture).decode()
    assert after_first == {
        "type": "function_call_output",
        "call_id": "v1",
        "output": [{"type": "input_image", "image_url": url, "detail": "high"}],
    }
    out = outputs(mock_model)
    assert out["v2"] == (
        f"unable to locate image at `{work / 'missing.png'}`: "
        "No such file or directory (os error 2)"
    )
    assert out["v3"] == "unable to process image: invalid or unsupported image data"
    assert out["v4"] == f"image path `{work / 'pics'}` is not a file"

    started = [
        m["params"]["item"]
        for m in client.received("item/started")
        if m["params"]["item"]["type"] == "imageView"
    ]
    completed = [
        m["params"]["item"]
        for m in client.received("item/completed")
        if m["params"]["item"]["type"] == "imageView"
    ]
    assert [i["id"] for i in started] == ["v1"]  # failed views show no item, as in Codex
    assert [(i["id"], i["path"]) for i in completed] == [("v1", str(work / "red.png"))]
    assert completed[0]["completedAtMs"] >= completed[0]["startedAtMs"]

    # The image stays in the thread's history: the next turn sends it again.
    mock_model.enqueue(text("still red"))
    await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "again"}]}
    )
    await client.wait_for_notification(
        "turn/completed",
        timeout=30,
        predicate=lambda p: p["turn"]["items"][0]["text"] == "still red",
    )
    assert outputs(mock_model)["v1"][0]["image_url"] == url


async def test_view_image_original_detail_for_models_that_allow_it(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    (tmp_path / "dot.png").write_bytes(png(1, 1))
    mock_model.enqueue(
        function_call("view_image", {"path": "dot.png"}, call_id="v1"),
        function_call("view_image", {"path": "dot.png", "detail": "low"}, call_id="v2"),
        text("ok"),
    )
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {"cwd": str(tmp_path), "model": "gpt-5.5"}))[
        "thread"
    ]["id"]
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "x"}]})
    await client.wait_for_notification("turn/completed", timeout=30)
    out = outputs(mock_model)
    assert out["v1"][0]["detail"] == "original"
    assert out["v2"] == (
        "view_image.detail only supports `original`; omit `detail` for default resized "
        "behavior, got `low`"
    )


async def test_view_image_over_chat_completions_follows_as_a_user_message(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    """A chat ``tool`` message holds text only: the image follows the tool messages."""
    home = tmp_path / "chat-home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model_provider = "mock"\nmodel = "mock-model"\n'
        'approval_policy = "never"\nsandbox_mode = "workspace-write"\n'
        f'[model_providers.mock]\nname = "Mock chat"\nbase_url = "{mock_model.base_url}"\n'
        'wire_api = "chat"\nrequest_max_retries = 0\n',
        encoding="utf-8",
    )
    picture = png(2, 2)
    (tmp_path / "two.png").write_bytes(picture)
    mock_model.enqueue(function_call("view_image", {"path": "two.png"}, call_id="v1"), text("ok"))
    server = await launch_server(home=home)
    client = server.client
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "x"}]})
    await client.wait_for_notification("turn/completed", timeout=30)
    last = mock_model.requests[-1]
    assert last.path.endswith("/chat/completions")
    messages = last.body["messages"]
    tool_at = next(i for i, m in enumerate(messages) if m["role"] == "tool")
    assert messages[tool_at]["content"] == "[1 image(s) attached in the next message]"
    follow = messages[tool_at + 1]
    assert follow["role"] == "user"
    url = "data:image/png;base64," + base64.b64encode(picture).decode()
    assert {"type": "image_url", "image_url": {"url": url}} in follow["content"]
