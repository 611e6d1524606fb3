"""A client we did not write: OpenAI's ``openai-codex`` Python SDK drives ``threadline app-server``.

The SDK launches our server through ``CodexConfig(launch_args_override=...)`` and
speaks to it over stdio exactly as it speaks to ``codex app-server``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from openai_codex import AsyncCodex, Codex, CodexConfig
from tests.support.mock_model import MockModel, text, usage


def _config(home: Path, cwd: Path) -> CodexConfig:
    return CodexConfig(
        launch_args_override=(sys.executable, "-m", "threadline", "app-server"),
        cwd=str(cwd),
        env={"THREADLINE_HOME": str(home), "THREADLINE_LOG": "WARNING"},
    )


def test_sdk_runs_two_turns(mock_model: MockModel, mock_home: Path, tmp_path: Path) -> None:
    mock_model.enqueue(
        text("The first answer.", usage=usage(1000, 0, 50, 10)),
        text("The second answer.", usage=usage(1500, 900, 80, 20)),
    )
    with Codex(_config(mock_home, tmp_path)) as codex:
        thread = codex.thread_start(cwd=str(tmp_path))
        first = thread.run("First question?")
        second = thread.run("Second question?")

    assert first.final_response == "The first answer."
    assert second.final_response == "The second answer."
    assert first.status.value == second.status.value == "completed"
    assert first.usage is not None and second.usage is not None
    assert first.usage.total.total_tokens == 1050
    assert first.usage.last.total_tokens == 1050
    assert second.usage.total.total_tokens == 2630
    assert second.usage.last.total_tokens == 1580
    assert second.usage.total.cached_input_tokens == 900
    # Both turns reached the model, the second with the first exchange in its history.
    requests = mock_model.requests
    assert len(requests) == 2
    inputs = requests[1].body["input"]
    said = [p.get("text") for i in inputs if i.get("type") == "message" for p in i["content"]]
    assert said[-3:] == ["First question?", "The first answer.", "Second question?"]


async def test_async_sdk_runs_two_turns(
    mock_model: MockModel, mock_home: Path, tmp_path: Path
) -> None:
    mock_model.enqueue(text("Async one.", usage=usage(10, 0, 5)), text("Async two."))
    async with AsyncCodex(_config(mock_home, tmp_path)) as codex:
        thread = await codex.thread_start(cwd=str(tmp_path))
        first = await thread.run("one")
        second = await thread.run("two")
    assert (first.final_response, second.final_response) == ("Async one.", "Async two.")
    assert first.usage is not None and first.usage.total.total_tokens == 15
    assert second.usage is not None and second.usage.total.total_tokens == 15 + 120
