"""The environment of model-run commands over the real stdio app-server.

The app-server process holds secrets in its environment (an OpenAI key, tokens, and the
configured provider's ``env_key`` under a name no pattern matches). The mock model asks
for ``env``; the command really runs, and what the model receives back as the
``function_call_output`` (the mock records every request) must contain none of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.conftest import StartClient, write_mock_config
from tests.e2e.test_shell import outputs, shell_call, start_thread
from tests.e2e.test_turns import collect_turn, start_turn
from tests.support.mock_model import MockModel, text

SECRETS = {
    "OPENAI_API_KEY": "sk-e2e-openai-1111",
    "GITHUB_TOKEN": "ghp-e2e-2222",
    "SERVICE_SECRET": "svc-e2e-3333",
    "MY_LLM": "provider-e2e-4444",
}
HARMLESS = {"THREADLINE_E2E_VISIBLE": "visible-e2e-5555"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


async def run_env_turn(
    start_client: StartClient, mock_model: MockModel, workspace: Path, sandbox: str
) -> str:
    mock_model.enqueue(shell_call("env", "call_env"), text("done"))
    client = await start_client(env={**SECRETS, **HARMLESS})
    thread_id = await start_thread(client, workspace, sandbox=sandbox)
    turn_id = await start_turn(client, thread_id, "Run `env`")
    await collect_turn(client, turn_id)
    return outputs(mock_model.requests[1])["call_env"]


@pytest.mark.parametrize("sandbox", ["workspace-write", "danger-full-access"])
async def test_the_model_never_sees_the_servers_secrets(
    start_client: StartClient, mock_model: MockModel, mock_home: Path, workspace: Path, sandbox: str
) -> None:
    # The mock provider's key lives in MY_LLM: a name none of *KEY*/*SECRET*/*TOKEN* matches.
    write_mock_config(mock_home, mock_model.base_url, provider_extra='env_key = "MY_LLM"')
    output = await run_env_turn(start_client, mock_model, workspace, sandbox)
    assert "Process exited with code 0" in output
    assert "THREADLINE_E2E_VISIBLE=visible-e2e-5555" in output  # env really ran
    for name, value in SECRETS.items():
        assert value not in output, name
    # The key did reach the model server (as the bearer token), just not the command.
    assert mock_model.requests[0].headers.get("authorization") == "Bearer provider-e2e-4444"


async def test_the_user_can_turn_default_excludes_off_but_not_leak_the_provider_key(
    start_client: StartClient, mock_model: MockModel, mock_home: Path, workspace: Path
) -> None:
    write_mock_config(
        mock_home,
        mock_model.base_url,
        extra="[shell_environment_policy]\nignore_default_excludes = true\n",
        provider_extra='env_key = "MY_LLM"',
    )
    output = await run_env_turn(start_client, mock_model, workspace, "workspace-write")
    assert "GITHUB_TOKEN=ghp-e2e-2222" in output
    assert "provider-e2e-4444" not in output
    assert "sk-e2e-openai-1111" not in output
