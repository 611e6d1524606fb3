"""Approval requests during ``exec`` when stdin is not a terminal: declined, with a message.

No built-in tool asks for approval yet, so this drives the CLI's responder against a real
core ``Thread`` (the request goes through ``Thread.request_approval`` exactly as a tool's would).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.support.mock_model import MockModel

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
        decision = await asyncio.wait_for(thread.request_approval(request), timeout=5)
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
