"""Approval requests during ``exec`` when stdin is not a terminal: declined, with a message.

One test drives the CLI's responder against a real core ``Thread`` (its session asks, as a
running turn's tool does); the others run the
real ``threadline exec`` subprocess, whose ``exec_command`` tool asks for approval.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.cli.conftest import Cli
from tests.support.mock_model import MockModel, function_call, text

from threadline.cli.exec_cmd import Approvals
from threadline.cli.render import JsonRenderer
from threadline.core.config import load_config
from threadline.core.manager import StartOptions, ThreadManager
from threadline.protocol import events as ev


async def test_non_tty_approval_is_declined_with_a_message(
    cli_home: Path, workdir: Path, mock_model: MockModel, capsys: pytest.CaptureFixture[str]
) -> None:
    manager = ThreadManager(load_config(cli_home))
    try:
        thread = manager.start_thread(
            StartOptions(cwd=str(workdir), approval_policy="untrusted", ephemeral=True)
        )
        approvals = Approvals(thread, JsonRenderer())
        thread.add_listener(approvals.on_event)
        request = ev.ExecApprovalRequest(
            approval_id="appr-1",
            turn_id="turn-1",
            item_id="item-1",
            command="rm -rf build",
            cwd=str(workdir),
        )
        decision = await asyncio.wait_for(thread.session.request_approval(request), timeout=5)
    finally:
        await manager.shutdown()

    assert decision == "decline"
    assert thread.pending_approval_ids() == []
    out, err = capsys.readouterr()
    assert "`rm -rf build`" in err and "stdin is not a terminal" in err
    assert "--ask-for-approval never" in err
    resolved = [json.loads(line) for line in out.splitlines()]
    assert resolved == [
        {
            "type": "approval.resolved",
            "approval_id": "appr-1",
            "decision": "decline",
            "reason": resolved[0]["reason"],
        }
    ]


def test_exec_untrusted_without_a_terminal_refuses_and_does_not_run(
    cli: Cli, workdir: Path, mock_model: MockModel
) -> None:
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "touch refused.txt"}, call_id="call_touch"),
        text("I could not create the file."),
    )
    result = cli(
        "exec", "--ask-for-approval", "untrusted", "--sandbox", "workspace-write", "make it"
    )

    assert not (workdir / "refused.txt").exists()
    # The turn itself completes (the model is told and answers), so exec succeeds …
    assert result.code == 0, result.stderr
    assert "I could not create the file." in result.stdout
    # … but the refusal is explained on stderr.
    assert "touch refused.txt" in result.stderr
    assert "stdin is not a terminal" in result.stderr
    assert "--ask-for-approval never" in result.stderr
    requests = mock_model.requests
    assert len(requests) == 2
    [answer] = [
        i["output"] for i in requests[1].body["input"] if i.get("type") == "function_call_output"
    ]
    assert "rejected by user" in answer


def test_exec_never_runs_the_command_without_asking(
    cli: Cli, workdir: Path, mock_model: MockModel
) -> None:
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "touch made.txt"}, call_id="call_touch"),
        text("Created."),
    )
    result = cli("exec", "--ask-for-approval", "never", "--sandbox", "workspace-write", "make it")

    assert result.code == 0, result.stderr
    assert (workdir / "made.txt").exists()
    assert "stdin is not a terminal" not in result.stderr
