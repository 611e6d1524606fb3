"""Image inputs reach the model: URLs as given, local files as ``data:`` URLs."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.e2e.conftest import LaunchServer
from tests.support.mock_model import MockModel, text

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


async def test_local_and_remote_images_are_sent_to_the_model(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    picture = tmp_path / "dot.png"
    picture.write_bytes(PNG)
    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    mock_model.enqueue(text("I see a dot."))
    await client.request("turn/start", {"threadId": tid, "input": [
        {"type": "text", "text": "what is in these?"},
        {"type": "localImage", "path": "dot.png"},
        {"type": "image", "url": "https://example.invalid/cat.png"},
        {"type": "localImage", "path": "missing.png"},
    ]})
    await client.wait_for_notification("turn/completed", timeout=20)
    user = [m for m in mock_model.requests[-1].body["input"] if m.get("role") == "user"][-1]
    parts = user["content"]
    urls = [p.get("image_url") for p in parts if p["type"] == "input_image"]
    assert urls[0] == "https://example.invalid/cat.png"
    assert urls[1] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert any("missing.png could not be read" in (p.get("text") or "") for p in parts)
