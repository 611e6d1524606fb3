"""CLI fixtures: the real ``python -m threadline`` as a subprocess against the mock model.

* ``mock_model`` — a started :class:`MockModel` on 127.0.0.1.
* ``cli_home`` — a THREADLINE_HOME whose ``config.toml`` selects the keyless ``mock``
  Responses provider at ``mock_model.base_url``.
* ``cli`` — ``cli("exec", "hi", env=…, timeout=…)`` runs the command to completion and
  returns a :class:`CliResult` (exit code, stdout, stderr).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.mock_model import MockModel

MOCK_MODEL_NAME = "mock-model"
CLI_TIMEOUT = 30.0


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


Cli = Callable[..., CliResult]


def write_mock_config(home: Path, base_url: str, *, extra: str = "") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(
        'model_provider = "mock"\n'
        f'model = "{MOCK_MODEL_NAME}"\n'
        f"{extra}\n"
        "[model_providers.mock]\n"
        'name = "Mock"\n'
        f'base_url = "{base_url}"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n",
        encoding="utf-8",
    )
    return path


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "THREADLINE_"))}
    env.update({"THREADLINE_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"})
    env.update(extra)
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "threadline", *args]


@pytest.fixture
def mock_model() -> Iterator[MockModel]:
    with MockModel() as mock:
        yield mock


@pytest.fixture
def cli_home(tmp_path: Path, mock_model: MockModel) -> Path:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    return home


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def make_cli(default_home: Path, workdir: Path) -> Cli:
    """A runner for ``python -m threadline …`` with THREADLINE_HOME = ``default_home``."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str = "",
        timeout: float = CLI_TIMEOUT,
        home: Path | None = None,
    ) -> CliResult:
        proc = subprocess.run(
            cli_argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            env=cli_env(home or default_home, **(env or {})),
            cwd=workdir,
            timeout=timeout,
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def cli(cli_home: Path, workdir: Path) -> Cli:
    return make_cli(cli_home, workdir)


def rollout_lines(home: Path) -> list[dict[str, Any]]:
    """Every line of every rollout under ``home/sessions``, in file order."""
    out: list[dict[str, Any]] = []
    for path in sorted((home / "sessions").rglob("rollout-*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def input_texts(body: Any) -> list[str]:
    """All text parts of a Responses request's ``input`` (to see what the model was shown)."""
    texts: list[str] = []
    for item in body.get("input", []):
        content = item.get("content")
        if isinstance(content, list):
            texts += [part.get("text", "") for part in content if isinstance(part, dict)]
        elif isinstance(content, str):
            texts.append(content)
    return texts
