"""OpenAI's ``openai-codex`` SDK runs a turn in which the model patches a file.

The thread is ``read-only``, so the patch needs an approval: the SDK's default approval
handler answers ``item/fileChange/requestApproval`` with ``accept``, the patch is
written, and the ``fileChange`` item is among the turn's items in ``TurnResult``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from openai_codex import AsyncCodex, Codex, CodexConfig, Sandbox
from tests.support.mock_model import MockModel, custom_tool_call, text

PATCH = "*** Begin Patch\n*** Update File: notes.txt\n@@\n first\n-second\n+SECOND\n*** End Patch\n"


def _config(home: Path, cwd: Path) -> CodexConfig:
    return CodexConfig(
        launch_args_override=(sys.executable, "-m", "threadline", "app-server"),
        cwd=str(cwd),
        env={"THREADLINE_HOME": str(home), "THREADLINE_LOG": "WARNING"},
    )


def _file_items(items: list[object]) -> list[object]:
    out = []
    for item in items:
        inner = getattr(item, "root", item)
        if getattr(inner, "type", None) == "fileChange":
            out.append(inner)
    return out


def test_sdk_turn_patches_a_file_with_the_default_approval_handler(
    mock_model: MockModel, mock_home: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"first\nsecond\n")
    mock_model.enqueue(
        custom_tool_call("apply_patch", PATCH, chunks=3, call_id="call_sdk"),
        text("Updated notes.txt."),
    )
    with Codex(_config(mock_home, tmp_path)) as codex:
        thread = codex.thread_start(cwd=str(tmp_path), model="gpt-5.5", sandbox=Sandbox.read_only)
        result = thread.run("Capitalise the second line of notes.txt")

    assert notes.read_bytes() == b"first\nSECOND\n"
    assert result.status.value == "completed"
    assert result.final_response == "Updated notes.txt."
    [item] = _file_items(result.items)
    assert getattr(item, "id", None) == "call_sdk"
    assert getattr(getattr(item, "status", None), "value", None) == "completed"
    [change] = item.changes  # type: ignore[attr-defined]
    assert change.path == str(notes)
    assert change.diff == "@@ -1,2 +1,2 @@\n first\n-second\n+SECOND\n"
    # The approval reached the SDK and its accept went back before the write.
    output = next(
        i["output"]
        for i in mock_model.requests[1].body["input"]
        if i.get("type") == "custom_tool_call_output"
    )
    assert output.endswith("Success. Updated the following files:\nM notes.txt\n")


async def test_async_sdk_turn_patches_a_file(
    mock_model: MockModel, mock_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_bytes(b"first\nsecond\n")
    mock_model.enqueue(custom_tool_call("apply_patch", PATCH, call_id="call_async"), text("Done."))
    async with AsyncCodex(_config(mock_home, tmp_path)) as codex:
        thread = await codex.thread_start(
            cwd=str(tmp_path), model="gpt-5.5", sandbox=Sandbox.workspace_write
        )
        result = await thread.run("Capitalise the second line")
    assert (tmp_path / "notes.txt").read_bytes() == b"first\nSECOND\n"
    assert [getattr(i, "id", None) for i in _file_items(result.items)] == ["call_async"]
