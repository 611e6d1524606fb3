"""``threadline exec`` as a subprocess against the mock model: text, JSON, failures, Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.cli.conftest import (
    Cli,
    cli_argv,
    cli_env,
    input_texts,
    rollout_lines,
)
from tests.support.mock_model import Gate, MockModel, http_error, text, usage


def test_exec_streams_answer_reasoning_and_usage(
    cli: Cli, mock_model: MockModel, cli_home: Path, workdir: Path
) -> None:
    mock_model.enqueue(
        text(
            "The answer is forty-two.",
            reasoning="Recalling the guide.",
            usage=usage(input=130, cached=30, output=12, reasoning=4),
        )
    )
    result = cli("exec", "What is the answer?")

    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "The answer is forty-two."
    assert "thinking: Recalling the guide." in result.stderr
    assert "tokens used: 142 (input 130, cached 30, output 12, reasoning 4)" in result.stderr
    assert "Traceback" not in result.stderr
    # The model got the prompt; the thread ran in the working directory and was saved.
    [request] = mock_model.requests
    assert "What is the answer?" in input_texts(request.body)
    lines = rollout_lines(cli_home)
    meta = lines[0]["payload"]
    assert lines[0]["type"] == "session_meta"
    assert meta["cwd"] == str(workdir.resolve())
    assert meta["source"] == "exec"
    kinds = [line["payload"].get("type") for line in lines if line["type"] == "event_msg"]
    assert "task_complete" in kinds and "token_count" in kinds


def test_exec_json_prints_one_typed_event_per_line(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(text("Hello there friend.", usage=usage(input=50, output=5)))
    result = cli("exec", "--json", "say hello")

    assert result.code == 0, result.stderr
    events = result.json_lines()
    assert all(isinstance(e.get("type"), str) for e in events)
    types = [e["type"] for e in events]
    assert types[0] == "thread.started"
    assert types[1] == "turn.started"
    assert types[-1] == "turn.completed"
    assert "item.delta" in types
    completed = [e["item"] for e in events if e["type"] == "item.completed"]
    assert {"type": "agentMessage", "text": "Hello there friend."}.items() <= completed[-1].items()
    assert completed[0]["type"] == "userMessage"
    assert events[-1]["usage"]["input_tokens"] == 50
    assert events[-1]["usage"]["output_tokens"] == 5
    assert events[-1]["usage"]["total_tokens"] == 55
    assert events[0]["thread_id"]


def test_exec_reads_prompt_from_stdin(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(text("piped"))
    result = cli("exec", "-", stdin="prompt from a pipe\n")
    assert result.code == 0, result.stderr
    assert "prompt from a pipe\n" in input_texts(mock_model.requests[0].body)


def test_exec_model_flag_and_cd(cli: Cli, mock_model: MockModel, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    mock_model.enqueue(text("ok"))
    result = cli("exec", "--json", "--model", "other-model", "--cd", str(other), "hi")
    assert result.code == 0, result.stderr
    assert mock_model.requests[0].body["model"] == "other-model"
    started = result.json_lines()[0]
    assert started["cwd"] == str(other.resolve())
    assert started["model"] == "other-model"


def test_exec_ephemeral_leaves_no_rollout(cli: Cli, mock_model: MockModel, cli_home: Path) -> None:
    mock_model.enqueue(text("gone soon"))
    result = cli("exec", "--ephemeral", "hi")
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "gone soon"
    assert not list(cli_home.glob("sessions/**/*.jsonl"))


def test_exec_failed_turn_exits_nonzero(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(http_error(400, {"error": {"message": "bad things", "type": "invalid"}}))
    result = cli("exec", "hi")
    assert result.code == 1
    assert "turn failed" in result.stderr
    assert "Traceback" not in result.stderr

    mock_model.enqueue(http_error(400))
    failed = cli("exec", "--json", "hi")
    assert failed.code == 1
    assert failed.json_lines()[-1]["type"] == "turn.failed"


def test_exec_unknown_provider_is_a_usage_error(cli: Cli) -> None:
    result = cli("exec", "--provider", "nowhere", "hi")
    assert result.code == 2
    assert 'model_provider "nowhere" is not defined' in result.stderr
    assert "Traceback" not in result.stderr


def test_sigint_interrupts_turn_records_it_and_exits_130(
    mock_model: MockModel, cli_home: Path, workdir: Path
) -> None:
    gate = Gate()  # the stream holds before its first delta until the gate opens
    mock_model.enqueue(text("never finished", gate=gate))
    proc = subprocess.Popen(
        cli_argv("exec", "long question"),
        env=cli_env(cli_home),
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        mock_model.wait_for_requests(1, timeout=20)
        time.sleep(0.2)  # the stream is open and waiting on the gate
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "turn interrupted" in err
    events = [
        line["payload"] for line in rollout_lines(cli_home) if line["type"] == "event_msg"
    ]
    aborted = [e for e in events if e["type"] == "turn_aborted"]
    assert len(aborted) == 1 and aborted[0]["reason"] == "interrupted"
    assert not [e for e in events if e["type"] == "task_complete"]
