"""Bad configuration reaches the user as one readable line and exit code 2."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli, write_mock_config
from tests.support.mock_model import MockModel, text


def _assert_clean_error(result_stderr: str) -> None:
    assert "Traceback" not in result_stderr
    assert result_stderr.startswith("error: ")


def test_bad_value_in_file_names_file_key_and_problem(
    cli: Cli, cli_home: Path, mock_model: MockModel
) -> None:
    config = write_mock_config(cli_home, mock_model.base_url, extra='approval_policy = "sometimes"')
    result = cli("exec", "hi")
    assert result.code == 2
    _assert_clean_error(result.stderr)
    assert str(config) in result.stderr
    assert "approval_policy" in result.stderr
    assert "sometimes" in result.stderr and "on-request" in result.stderr
    assert mock_model.requests == []


def test_wrong_type_inside_a_table(cli: Cli, cli_home: Path, mock_model: MockModel) -> None:
    write_mock_config(cli_home, mock_model.base_url)
    with (cli_home / "config.toml").open("a") as f:
        f.write("stream_idle_timeout_ms = \"soon\"\n")
    result = cli("threads", "list")
    assert result.code == 2
    _assert_clean_error(result.stderr)
    assert "model_providers.mock.stream_idle_timeout_ms" in result.stderr
    assert "expected an integer" in result.stderr


def test_invalid_toml_names_the_file(cli: Cli, cli_home: Path) -> None:
    (cli_home / "config.toml").write_text('model = "unterminated\n')
    result = cli("exec", "hi")
    assert result.code == 2
    _assert_clean_error(result.stderr)
    assert str(cli_home / "config.toml") in result.stderr
    assert "invalid TOML" in result.stderr


def test_bad_override_names_the_key(cli: Cli) -> None:
    result = cli("-c", "sandbox_mode=everything", "exec", "hi")
    assert result.code == 2
    _assert_clean_error(result.stderr)
    assert "-c override" in result.stderr and "sandbox_mode" in result.stderr

    missing_eq = cli("-c", "model", "exec", "hi")
    assert missing_eq.code == 2
    assert 'expected key=value (missing "=")' in missing_eq.stderr


def test_unknown_profile(cli: Cli) -> None:
    result = cli("--profile", "fast", "exec", "hi")
    assert result.code == 2
    _assert_clean_error(result.stderr)
    assert 'unknown profile "fast"' in result.stderr


def test_overrides_and_profiles_change_the_request(
    cli: Cli, cli_home: Path, mock_model: MockModel
) -> None:
    write_mock_config(
        cli_home,
        mock_model.base_url,
        extra='[profiles.deep]\nmodel = "deep-model"\nmodel_reasoning_effort = "high"\n',
    )
    mock_model.enqueue(text("a"), text("b"), text("c"))
    assert cli("exec", "hi").code == 0
    assert cli("--profile", "deep", "exec", "hi").code == 0
    assert cli("--profile", "deep", "-c", "model=from-override", "exec", "hi").code == 0
    bodies = [r.body for r in mock_model.requests]
    assert [b["model"] for b in bodies] == ["mock-model", "deep-model", "from-override"]
    assert bodies[1].get("reasoning", {}).get("effort") == "high"


def test_default_provider_notice_names_the_embedded_model(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "empty-home"
    home.mkdir()
    # OPENAI_API_KEY selects the openai default; a closed loopback port keeps the test
    # offline. The notice says which model answers and where to configure another.
    result = cli(
        "-c",
        'model_providers.openai.base_url="http://127.0.0.1:9/v1"',
        "-c",
        "model_providers.openai.request_max_retries=0",
        "-c",
        "model_providers.openai.stream_max_retries=0",
        "exec",
        "hi",
        home=home,
        env={"OPENAI_API_KEY": "sk-test"},
    )
    assert "Using OpenAI" in result.stderr and "OPENAI_API_KEY is set" in result.stderr
    assert str(home / "config.toml") in result.stderr
    assert result.code == 1
