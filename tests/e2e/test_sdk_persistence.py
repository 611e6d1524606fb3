"""OpenAI's official ``openai-codex`` SDK resumes and forks threadline threads across
server processes, and the model receives the earlier history; on the local store and on
PostgreSQL."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from tests.support.mock_model import MockModel, text, usage
from tests.support.stores import StoreUnderTest, both_stores

openai_codex = pytest.importorskip("openai_codex")

pytestmark = both_stores


def _config(home: Path, cwd: Path, store: StoreUnderTest) -> object:
    env = dict(os.environ)
    env["THREADLINE_HOME"] = str(home)
    env.update(store.env)
    env.setdefault("THREADLINE_LOG", "WARNING")
    return openai_codex.CodexConfig(
        launch_args_override=(sys.executable, "-m", "threadline", "app-server"),
        env=env,
        cwd=str(cwd),
    )


def test_sdk_resumes_in_a_new_process_and_forks(
    mock_home: Path, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    mock_model.enqueue(text("The secret is kiwi.", usage=usage(input=100, output=10)))
    with openai_codex.Codex(config=_config(mock_home, tmp_path, store)) as codex:
        thread = codex.thread_start()
        first = thread.run("Remember: the secret is kiwi.")
        assert first.final_response == "The secret is kiwi."
        thread_id = thread.id

    # A new server process: resume, continue; the model sees the earlier turn.
    mock_model.enqueue(text("It was kiwi.", usage=usage(input=150, output=5)))
    with openai_codex.Codex(config=_config(mock_home, tmp_path, store)) as codex:
        resumed = codex.thread_resume(thread_id)
        assert resumed.id == thread_id
        second = resumed.run("What was the secret?")
        assert second.final_response == "It was kiwi."
        sent = json.dumps(mock_model.requests[-1].body["input"])
        assert "Remember: the secret is kiwi." in sent
        assert "The secret is kiwi." in sent
        assert "What was the secret?" in sent

        mock_model.enqueue(text("Forked reply.", usage=usage(input=170, output=3)))
        fork = codex.thread_fork(thread_id)
        assert fork.id != thread_id
        third = fork.run("And in the fork?")
        assert third.final_response == "Forked reply."
        sent = json.dumps(mock_model.requests[-1].body["input"])
        assert "What was the secret?" in sent and "And in the fork?" in sent
        assert third.usage is not None
        # Usage keeps accumulating from the source thread's total.
        assert third.usage.total.total_tokens == 110 + 155 + 173
