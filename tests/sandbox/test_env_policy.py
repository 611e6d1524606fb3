"""``[shell_environment_policy]``: which of the server's variables a command sees.

First the five steps on a given environment, then the real ``exec_command`` tool running
``env`` in real subprocesses (under bubblewrap and with danger-full-access) while the
test process holds secrets in its own environment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threadline.sandbox.env_policy import (
    NEVER_INHERITED,
    EnvPattern,
    ShellEnvironmentPolicy,
)
from threadline.tools.registry import ToolContext
from threadline.tools.shell import ExecCommandTool

SOURCE = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/u",
    "path_lower": "x",
    "LANG": "C.UTF-8",
    "OPENAI_API_KEY": "sk-openai",
    "api_key": "lower-key",
    "GITHUB_TOKEN": "ghp",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "AWS_REGION": "eu",
    "MY_LLM": "provider-secret",
    "OPENAI_WORKLOAD_IDENTITY_CONTEXT": "ctx",
    "FOO": "bar",
}


def build(
    policy: ShellEnvironmentPolicy, *, secrets: tuple[str, ...] = ("MY_LLM",)
) -> dict[str, str]:
    return policy.build(SOURCE, secret_names=secrets)


def test_default_drops_key_secret_token_names_and_provider_keys() -> None:
    env = build(ShellEnvironmentPolicy())
    assert env == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/u",
        "path_lower": "x",
        "LANG": "C.UTF-8",
        "AWS_REGION": "eu",
        "FOO": "bar",
    }


def test_default_excludes_ignore_case() -> None:
    env = ShellEnvironmentPolicy().build({"my_Secret_thing": "1", "xTokEnx": "2", "K": "3"})
    assert env == {"K": "3"}


def test_core_keeps_only_the_core_variables() -> None:
    env = build(ShellEnvironmentPolicy(inherit="core"))
    assert env == {"PATH": "/usr/bin:/bin", "HOME": "/home/u", "LANG": "C.UTF-8"}
    # Matched ignoring case, as Codex does.
    assert ShellEnvironmentPolicy(inherit="core").build({"Path": "p", "tmpdir": "t"}) == {
        "Path": "p",
        "tmpdir": "t",
    }


def test_none_starts_empty_and_set_adds() -> None:
    policy = ShellEnvironmentPolicy(inherit="none", set={"ONLY": "yes"})
    assert build(policy) == {"ONLY": "yes"}


def test_ignore_default_excludes_still_never_passes_provider_keys() -> None:
    env = build(ShellEnvironmentPolicy(ignore_default_excludes=True))
    # The patterns no longer apply ...
    assert env["GITHUB_TOKEN"] == "ghp"
    assert env["api_key"] == "lower-key"
    assert env["AWS_SECRET_ACCESS_KEY"] == "aws"
    # ... but a provider's env_key never passes, whatever its name, nor does the built-in
    # OpenAI key or Codex's launch context.
    for name in ("MY_LLM", "OPENAI_API_KEY", "OPENAI_WORKLOAD_IDENTITY_CONTEXT"):
        assert name not in env


def test_provider_keys_are_matched_ignoring_case() -> None:
    env = ShellEnvironmentPolicy(ignore_default_excludes=True).build(
        {"my_llm": "s", "A": "1"}, secret_names=("MY_LLM",)
    )
    assert env == {"A": "1"}


def test_set_can_give_a_provider_key_back_because_the_user_typed_it() -> None:
    policy = ShellEnvironmentPolicy(set={"MY_LLM": "typed", "OPENAI_API_KEY": "typed-too"})
    env = build(policy)
    assert (env["MY_LLM"], env["OPENAI_API_KEY"]) == ("typed", "typed-too")


def test_exclude_patterns_are_case_insensitive_globs() -> None:
    env = build(ShellEnvironmentPolicy(exclude=("aws_*", "F?O", "HOM")))
    assert "AWS_REGION" not in env
    assert "FOO" not in env
    assert env["HOME"] == "/home/u"  # ``HOM`` matches the whole name only


def test_steps_run_in_codex_order() -> None:
    # set comes after the excludes (so it wins over them) and before include_only (which
    # can still drop what set added).
    policy = ShellEnvironmentPolicy(
        exclude=("FOO",),
        set={"FOO": "set", "NEW_TOKEN": "t", "DROPPED": "d"},
        include_only=("PATH", "FOO", "*TOKEN*"),
    )
    assert build(policy) == {"PATH": "/usr/bin:/bin", "FOO": "set", "NEW_TOKEN": "t"}


def test_include_only_without_matches_leaves_nothing() -> None:
    assert build(ShellEnvironmentPolicy(include_only=("NOPE_*",))) == {}


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("*KEY*", "OPENAI_API_KEY", True),
        ("*KEY*", "keyboard", True),
        ("*KEY*", "KE_Y", False),
        ("A?C", "abc", True),
        ("A?C", "AC", False),
        ("A.C", "ABC", False),  # regex characters are literal
        ("[AB]", "A", False),  # no character classes, as in Codex
        ("[AB]", "[AB]", True),
    ],
)
def test_pattern_semantics(pattern: str, name: str, hit: bool) -> None:
    assert EnvPattern(pattern).matches(name) is hit


def test_unknown_inherit_is_rejected() -> None:
    with pytest.raises(ValueError, match="inherit must be one of all, core, none"):
        ShellEnvironmentPolicy(inherit="some")  # type: ignore[arg-type]


# ---- through the real tool, in real processes -------------------------------------------

SECRETS = {
    "OPENAI_API_KEY": "sk-test-openai-0001",
    "GITHUB_TOKEN": "ghp-test-0002",
    "AWS_SECRET_ACCESS_KEY": "aws-test-0003",
    "MY_LLM": "provider-test-0004",
    "db_password_key": "lower-test-0005",
}


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("THREADLINE_TEST_HARMLESS", "visible-0006")
    return SECRETS


async def run_env(
    cwd: Path, tool: ExecCommandTool, sandbox: str, *, cmd: str = "env", login: bool = False
) -> str:
    async def emit(msg: object) -> None:
        return None

    ctx = ToolContext(
        thread_id="thread-env",
        turn_id="turn-1",
        call_id="call-1",
        cwd=cwd,
        emit=emit,
        complete_item=emit,
        sandbox_mode=sandbox,
        approval_policy="never",
    )
    out = await tool.run(ctx, json.dumps({"cmd": cmd, "login": login}))
    assert "Process exited with code 0" in out.text, out.text
    return out.text


def env_lines(text: str) -> dict[str, str]:
    body = text.split("Output:\n", 1)[1]
    return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)


@pytest.mark.parametrize("sandbox", ["workspace-write", "read-only", "danger-full-access"])
async def test_env_shows_no_secret_by_default(
    tmp_path: Path, secrets_in_env: dict[str, str], sandbox: str
) -> None:
    tool = ExecCommandTool(secret_env_names=("MY_LLM",))
    text = await run_env(tmp_path, tool, sandbox)
    for value in secrets_in_env.values():
        assert value not in text
    seen = env_lines(text)
    assert seen["THREADLINE_TEST_HARMLESS"] == "visible-0006"
    assert "PATH" in seen
    assert seen["THREADLINE_SANDBOX"] == sandbox
    assert seen["CODEX_THREAD_ID"] == "thread-env"
    assert seen["PAGER"] == "cat"
    if sandbox == "danger-full-access":
        assert "CODEX_SANDBOX_NETWORK_DISABLED" not in seen
    else:
        assert seen["CODEX_SANDBOX_NETWORK_DISABLED"] == "1"
        assert seen["THREADLINE_SANDBOX_NETWORK_DISABLED"] == "1"


@pytest.mark.parametrize("sandbox", ["workspace-write", "danger-full-access"])
async def test_provider_key_stays_out_even_with_default_excludes_off(
    tmp_path: Path, secrets_in_env: dict[str, str], sandbox: str
) -> None:
    policy = ShellEnvironmentPolicy(ignore_default_excludes=True)
    tool = ExecCommandTool(env_policy=policy, secret_env_names=("MY_LLM",))
    text = await run_env(tmp_path, tool, sandbox)
    seen = env_lines(text)
    assert seen["GITHUB_TOKEN"] == "ghp-test-0002"  # the user turned the patterns off
    assert "provider-test-0004" not in text
    assert "sk-test-openai-0001" not in text


@pytest.mark.parametrize("sandbox", ["workspace-write", "danger-full-access"])
async def test_inherit_none_with_set_and_include_only(
    tmp_path: Path, secrets_in_env: dict[str, str], sandbox: str
) -> None:
    policy = ShellEnvironmentPolicy(inherit="none", set={"ONLY_THIS": "1", "MY_LLM": "user-typed"})
    tool = ExecCommandTool(env_policy=policy, secret_env_names=("MY_LLM",))
    seen = env_lines(await run_env(tmp_path, tool, sandbox))
    assert seen["ONLY_THIS"] == "1"
    assert seen["MY_LLM"] == "user-typed"
    assert "THREADLINE_TEST_HARMLESS" not in seen
    assert "HOME" not in seen


async def test_inherit_core_passes_only_core_variables(
    tmp_path: Path, secrets_in_env: dict[str, str]
) -> None:
    tool = ExecCommandTool(env_policy=ShellEnvironmentPolicy(inherit="core"))
    seen = env_lines(await run_env(tmp_path, tool, "workspace-write"))
    assert "THREADLINE_TEST_HARMLESS" not in seen
    assert "PATH" in seen


async def test_use_profile_runs_a_login_shell_even_when_the_model_asks_for_none(
    tmp_path: Path,
) -> None:
    probe = "shopt -q login_shell && echo login || echo plain"
    plain = await run_env(tmp_path, ExecCommandTool(), "danger-full-access", cmd=probe)
    assert plain.endswith("plain\n")
    policy = ShellEnvironmentPolicy(experimental_use_profile=True)
    tool = ExecCommandTool(env_policy=policy)
    text = await run_env(tmp_path, tool, "danger-full-access", cmd=probe)
    assert text.endswith("login\n")


def test_never_inherited_names_the_builtin_openai_key() -> None:
    assert "OPENAI_API_KEY" in NEVER_INHERITED
