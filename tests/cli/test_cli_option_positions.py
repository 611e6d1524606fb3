"""Codex's option positions (issue #9, items 12 and 13), on the real ``threadline`` process.

Codex accepts ``-c/--config``, ``--enable``, ``--disable`` before and after each
sub-command (the ACP bridge ``codex-acp`` spawns ``codex app-server -c k=v``), and
exec's options before or after ``resume`` (``codex exec --json resume ID PROMPT``).
Every case here runs the command as a subprocess against the mock model and checks
the effect where it lands: the request the model receives, ``config/read``, the
thread that was resumed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.cli.conftest import Cli, CliResult, cli_argv, cli_env, input_texts, write_mock_config
from tests.conftest import AppServerFactory
from tests.support.mock_model import MockModel, text


def _exec_json(cli: Cli, *args: str) -> str:
    result = cli("exec", "--json", *args)
    assert result.code == 0, result.stderr
    thread_id = result.json_lines()[0]["thread_id"]
    assert isinstance(thread_id, str)
    return thread_id


def _models(mock: MockModel) -> list[str]:
    return [r.body["model"] for r in mock.requests]


def _usage_error(result: CliResult, *needles: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# ---- item 12: -c and friends on either side of the sub-command ---------------------------


def test_config_override_takes_effect_in_every_exec_position(
    cli: Cli, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("a"), text("b"), text("c"), text("d"))
    assert cli("-c", "model=root-model", "exec", "hi").code == 0
    assert cli("exec", "-c", "model=exec-model", "hi").code == 0
    assert cli("exec", "hi", "--config", "model=after-prompt").code == 0
    # Both positions at once: the one further right wins, as in Codex.
    assert cli("-c", "model=left", "exec", "-c", "model=right", "hi").code == 0
    assert _models(mock_model) == ["root-model", "exec-model", "after-prompt", "right"]


def test_profile_after_exec(cli: Cli, cli_home: Path, mock_model: MockModel) -> None:
    write_mock_config(
        cli_home, mock_model.base_url, extra='[profiles.deep]\nmodel = "deep-model"\n'
    )
    mock_model.enqueue(text("a"), text("b"))
    assert cli("exec", "-p", "deep", "hi").code == 0
    assert cli("exec", "--profile", "deep", "-c", "model=beats-profile", "hi").code == 0
    assert _models(mock_model) == ["deep-model", "beats-profile"]
    _usage_error(cli("exec", "--profile", "nope", "hi"), 'unknown profile "nope"')


async def test_app_server_takes_config_after_the_sub_command(
    app_server: AppServerFactory, cli_home: Path, mock_model: MockModel
) -> None:
    """The exact form codex-acp spawns: ``app-server -c key=value`` (plus feature flags)."""
    mock_model.enqueue(text("hello"))
    server = await app_server(
        home=cli_home,
        args=[
            "-c",
            'permissions.external-agent.extends=":workspace"',
            "-c",
            'model="after-app-server"',
            "--enable",
            "shiny",
            "--disable",
            "dull",
        ],
    )
    config = (await server.client.request("config/read", {}))["config"]
    assert config["model"] == "after-app-server"
    assert config["permissions"] == {"external-agent": {"extends": ":workspace"}}
    assert config["features"] == {"shiny": True, "dull": False}

    started = await server.client.request("thread/start", {})
    assert started["model"] == "after-app-server"
    thread_id = started["thread"]["id"]
    await server.client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]}
    )
    await server.client.wait_for_notification("turn/completed")
    assert _models(mock_model) == ["after-app-server"]


async def test_app_server_both_positions_right_wins(
    app_server: AppServerFactory, cli_home: Path
) -> None:
    # --stdio and --analytics-default-enabled are Codex app-server flags clients pass.
    server = await app_server(
        home=cli_home,
        config=["model=before", "model_reasoning_effort=low"],
        args=["--stdio", "--analytics-default-enabled", "-c", "model=after"],
    )
    config = (await server.client.request("config/read", {}))["config"]
    assert config["model"] == "after"
    assert config["model_reasoning_effort"] == "low"


def _run(home: Path, cwd: Path, *args: str, stdin: str = "") -> CliResult:
    proc = subprocess.run(
        cli_argv(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_env(home),
        cwd=cwd,
        timeout=30,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["app-server", "-c", "sandbox_mode=everything"],
            ["-c override", "sandbox_mode", "everything"],
        ),
        (
            ["app-server", "--listen", "stdio://", "-c", "model"],
            ['model: expected key=value (missing "=")'],
        ),
        (["app-server", "-c", ".model=x"], ["-c override", "empty key"]),
        (["app-server", "--enable", "a.b"], ["--enable 'a.b'", "feature name"]),
        (["app-server", "--disable", ""], ["--disable ''", "feature name"]),
        (
            ["exec", "resume", "--last", "-c", "approval_policy=sometimes", "hi"],
            ["approval_policy", "sometimes"],
        ),
        (["threads", "-c", "sandbox_mode=everything", "list"], ["sandbox_mode"]),
        (["threads", "list", "-c", "sandbox_mode=everything"], ["sandbox_mode"]),
        (["threads", "list", "-p", "ghost"], ['unknown profile "ghost"']),
    ],
)
def test_bad_override_after_the_sub_command_names_the_key(
    cli_home: Path, workdir: Path, mock_model: MockModel, args: list[str], needles: list[str]
) -> None:
    result = _run(cli_home, workdir, *args)
    _usage_error(result, *needles)
    assert result.stderr.startswith("error: ")
    assert mock_model.requests == []


def test_app_server_stdio_flag_contradicting_listen_is_refused(
    cli_home: Path, workdir: Path
) -> None:
    result = _run(cli_home, workdir, "app-server", "--stdio", "--listen", "ws://127.0.0.1:0")
    _usage_error(result, "--stdio contradicts --listen ws://127.0.0.1:0")


def test_threads_take_the_shared_options_at_each_level(
    cli: Cli, cli_home: Path, mock_model: MockModel
) -> None:
    write_mock_config(cli_home, mock_model.base_url, extra='[profiles.p]\nmodel = "m"\n')
    mock_model.enqueue(text("a"))
    thread_id = _exec_json(cli, "hello")
    for args in (
        ["-p", "p", "threads", "list", "--json"],
        ["threads", "-p", "p", "list", "--json"],
        ["threads", "list", "--json", "-c", "model=x", "-p", "p"],
    ):
        result = cli(*args)
        assert result.code == 0, (args, result.stderr)
        assert [t["id"] for t in json.loads(result.stdout)["threads"]] == [thread_id]


# ---- item 13: exec options before or after resume ----------------------------------------


def _resumed(result: CliResult) -> dict[str, Any]:
    assert result.code == 0, result.stderr
    events = result.json_lines()
    assert events[-1]["type"] == "turn.completed"
    return events[0]


@pytest.mark.parametrize(
    "order",
    [
        ["exec", "--json", "resume", "{id}", "{prompt}"],
        ["exec", "resume", "--json", "{id}", "{prompt}"],
        ["exec", "resume", "{id}", "--json", "{prompt}"],
        ["exec", "resume", "{id}", "{prompt}", "--json"],
        ["exec", "--json", "-m", "mock-model", "resume", "{id}", "{prompt}"],
        ["exec", "--json=", "resume", "{id}", "{prompt}"],
    ],
    ids=["json-before", "json-after", "json-between", "json-last", "model-before", "bad-json"],
)
def test_exec_resume_in_each_order(cli: Cli, mock_model: MockModel, order: list[str]) -> None:
    mock_model.enqueue(text("The answer is 42."), text("You asked about 42."))
    thread_id = _exec_json(cli, "What is the answer?")
    args = [w.format(id=thread_id, prompt="What did I ask?") for w in order]
    result = cli(*args)
    if "--json=" in order:  # a flag given a value is still refused, by name
        assert result.code == 2 and "--json" in result.stderr
        return
    assert _resumed(result)["thread_id"] == thread_id
    shown = input_texts(mock_model.requests[1].body)
    assert "What is the answer?" in shown and "The answer is 42." in shown
    assert shown[-1] == "What did I ask?"


def test_exec_options_before_resume_take_effect(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(text("one"), text("two"), text("three"))
    thread_id = _exec_json(cli, "first")
    # Options before 'resume' (Codex's order) and after it reach the resumed turn; for the
    # same option the one further right wins.
    before = cli("exec", "--json", "-m", "model-before", "resume", thread_id, "again")
    assert _resumed(before)["thread_id"] == thread_id
    probe = "model_providers.mock.http_headers.x-probe"
    both = cli(
        "-c", f"{probe}=root", "exec", "-m", "left", "-c", f"{probe}=exec", "--json",
        "resume", "-m", "right", "--last", "-c", f"{probe}=resume", "more",
    )  # fmt: skip
    assert _resumed(both)["thread_id"] == thread_id
    assert _models(mock_model) == ["mock-model", "model-before", "right"]
    assert [r.headers.get("x-probe") for r in mock_model.requests] == [None, None, "resume"]


def test_exec_resume_last_with_prompt_from_stdin(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(text("one"), text("two"), text("three"))
    thread_id = _exec_json(cli, "first")
    dash = cli("exec", "--json", "resume", "--last", "-", stdin="piped with a dash\n")
    assert _resumed(dash)["thread_id"] == thread_id
    implicit = cli("exec", "resume", "--json", thread_id, stdin="piped without a prompt\n")
    assert _resumed(implicit)["thread_id"] == thread_id
    assert input_texts(mock_model.requests[1].body)[-1] == "piped with a dash\n"
    assert input_texts(mock_model.requests[2].body)[-1] == "piped without a prompt\n"


def test_resume_last_is_scoped_to_the_working_directory(
    cli: Cli, mock_model: MockModel, tmp_path: Path, workdir: Path
) -> None:
    """Like Codex: ``--last`` picks the newest thread of the working directory; ``--all``
    picks the newest of all."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    mock_model.enqueue(text("a"), text("b"), text("c"), text("d"), text("e"))
    here = _exec_json(cli, "thread here")
    there = _exec_json(cli, "--cd", str(elsewhere), "thread elsewhere")  # the newer one

    everywhere = cli("exec", "resume", "--last", "--all", "--json", "all")
    assert _resumed(everywhere)["thread_id"] == there
    # "there" is the newest thread now, but not this directory's.
    assert _resumed(cli("exec", "--json", "resume", "--last", "again"))["thread_id"] == here
    assert "thread elsewhere" not in input_texts(mock_model.requests[3].body)
    # --cd chooses the directory --last looks in.
    moved = cli("exec", "-C", str(elsewhere), "--json", "resume", "--last", "there")
    assert _resumed(moved)["thread_id"] == there

    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli("exec", "resume", "--last", "-C", str(empty), "hi")
    assert none.code == 1
    assert f"no thread to resume in {empty.resolve()}" in none.stderr
    assert "--all" in none.stderr


def test_exec_fork_takes_options_on_either_side(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(text("Stored: swordfish."), text("The password was swordfish."), text("x"))
    source = _exec_json(cli, "Remember swordfish.")
    forked = _resumed(cli("exec", "--json", "fork", source, "What was it?"))
    assert forked["thread_id"] != source
    assert input_texts(mock_model.requests[1].body)[-1] == "What was it?"
    from_stdin = _resumed(cli("exec", "fork", "--json", source, "-", stdin="And now?"))
    assert from_stdin["thread_id"] not in (source, forked["thread_id"])
    assert input_texts(mock_model.requests[2].body)[-1] == "And now?"


def test_resume_refuses_ephemeral_and_a_prompt_named_resume_still_works(
    cli: Cli, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("a"), text("b"))
    thread_id = _exec_json(cli, "first")
    refused = cli("exec", "--ephemeral", "resume", thread_id, "again")
    _usage_error(refused, "--ephemeral cannot be used with resume")
    # After '--' every word is the prompt, even one that names a sub-command.
    literal = cli("exec", "--json", "--", "resume")
    assert literal.code == 0, literal.stderr
    assert literal.json_lines()[0]["thread_id"] != thread_id
    assert input_texts(mock_model.requests[1].body)[-1] == "resume"
    assert len(mock_model.requests) == 2
