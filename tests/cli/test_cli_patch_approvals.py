"""Patch approvals during ``threadline exec``: declined with a message when stdin is not a
terminal, asked on the terminal otherwise (here a pseudo-terminal answering ``y``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cli.conftest import CLI_TIMEOUT, Cli, cli_argv, cli_env
from tests.support.mock_model import MockModel, custom_tool_call, text

PATCH = "*** Begin Patch\n*** Update File: a.txt\n@@\n-old\n+new\n*** End Patch\n"
ARGS = ("exec", "-m", "gpt-5.5", "--sandbox", "read-only", "--ask-for-approval", "on-request")


def test_exec_without_a_terminal_declines_the_patch(
    cli: Cli, workdir: Path, mock_model: MockModel
) -> None:
    (workdir / "a.txt").write_bytes(b"old\n")
    mock_model.enqueue(
        custom_tool_call("apply_patch", PATCH, call_id="call_cli"), text("It was declined.")
    )
    result = cli(*ARGS, "edit a.txt")

    assert (workdir / "a.txt").read_bytes() == b"old\n"
    assert result.code == 0, result.stderr
    assert "It was declined." in result.stdout
    assert f"apply a patch to {workdir}/a.txt" in result.stderr
    assert "stdin is not a terminal" in result.stderr
    outputs = [
        i["output"]
        for i in mock_model.requests[1].body["input"]
        if i.get("type") == "custom_tool_call_output"
    ]
    assert outputs == ["patch rejected by user"]


def test_exec_on_a_terminal_asks_and_applies(
    cli_home: Path, workdir: Path, mock_model: MockModel
) -> None:
    (workdir / "a.txt").write_bytes(b"old\n")
    mock_model.enqueue(custom_tool_call("apply_patch", PATCH, call_id="call_tty"), text("Done."))
    controller, terminal = os.openpty()
    try:
        os.write(controller, b"y\n")  # typed ahead; read when the question is asked
        proc = subprocess.run(
            cli_argv(*ARGS, "edit a.txt"),
            stdin=terminal,
            capture_output=True,
            text=True,
            env=cli_env(cli_home),
            cwd=workdir,
            timeout=CLI_TIMEOUT,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)

    assert proc.returncode == 0, proc.stderr
    assert (workdir / "a.txt").read_bytes() == b"new\n"
    assert "The agent wants to apply a patch to:" in proc.stderr
    assert f"update {workdir}/a.txt" in proc.stderr
    assert "Done." in proc.stdout
