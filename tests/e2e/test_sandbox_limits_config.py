"""``[sandbox_limits]`` in config.toml reaches the commands the model runs.

The real app-server runs each command under real bubblewrap; the limits in the config
file must be the ones that bind it (not the built-in defaults).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.e2e.conftest import StartClient, write_mock_config
from tests.e2e.test_shell import command_items, outputs, shell_call, start_thread
from tests.e2e.test_turns import collect_turn, start_turn
from tests.support.mock_model import MockModel, text

from threadline.core.config import ConfigError, load_config


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


async def test_configured_timeout_bounds_the_command(
    start_client: StartClient, mock_model: MockModel, mock_home: Path, workspace: Path
) -> None:
    write_mock_config(
        mock_home, mock_model.base_url, extra="[sandbox_limits]\ncommand_timeout_sec = 1\n"
    )
    # A background child that left the process group must die with the command too.
    mock_model.enqueue(shell_call("setsid sleep 30 & sleep 30", "call_slow"), text("It timed out."))
    client = await start_client()
    thread_id = await start_thread(client, workspace, sandbox="workspace-write")
    began = time.monotonic()
    messages = await collect_turn(client, await start_turn(client, thread_id, "wait"))
    assert time.monotonic() - began < 15
    [item] = command_items(messages, "item/completed")
    assert item["exitCode"] == 124
    assert "timed out after 1 seconds" in outputs(mock_model.requests[1])["call_slow"]


async def test_configured_process_limit_binds(
    start_client: StartClient, mock_model: MockModel, mock_home: Path, workspace: Path
) -> None:
    write_mock_config(mock_home, mock_model.base_url, extra="[sandbox_limits]\nmax_processes = 8\n")
    # 20 background sleeps cannot all run at once under a limit of 8 processes: bash's
    # fork fails and it retries until earlier sleeps end (under the default of 256 every
    # fork succeeds at once).
    script = "for i in $(seq 20); do sleep 1 & done; wait"
    mock_model.enqueue(shell_call(script, "call_fork"), text("done"))
    client = await start_client()
    thread_id = await start_thread(client, workspace, sandbox="workspace-write")
    await collect_turn(client, await start_turn(client, thread_id, "fork"))
    output = outputs(mock_model.requests[1])["call_fork"]
    assert "Resource temporarily unavailable" in output, output


def test_bad_limits_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[sandbox_limits]\nmax_processes = "many"\n')
    with pytest.raises(ConfigError, match=r"sandbox_limits\.max_processes"):
        load_config(tmp_path)
    (tmp_path / "config.toml").write_text("[sandbox_limits]\ncommand_timeout_sec = 0\n")
    with pytest.raises(ConfigError, match=r"sandbox_limits\.command_timeout_sec"):
        load_config(tmp_path)
    (tmp_path / "config.toml").write_text("[sandbox_limits]\nmax_processes = 0\n")
    assert load_config(tmp_path).sandbox_limits.max_processes == 0
