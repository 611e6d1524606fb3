"""The ``app-server`` fast path (``cli/fast.py``) and the start-up warm-up (``cli/serve.py``).

The usual command lines start the server without typer, rich or the MCP SDK; everything
else falls back to the typer command with its own messages. The real ``threadline``
process runs each case.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.cli.conftest import cli_argv, cli_env

from threadline.cli import serve
from threadline.cli.fast import fast_app_server, parse

INITIALIZE = json.dumps(
    {"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "t", "version": "1"}}}
)

# Runs main() the way the console script does, then reports which heavy packages it loaded.
_PROBE = """
import json, sys
sys.argv = ["threadline", *json.loads(sys.argv[1])]
from threadline.cli.main import main
main()
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"typer", "click", "rich", "mcp", "openai"})
print(json.dumps({"loaded": loaded}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["app-server"], ((), None, "stdio://", False)),
        (
            ["-c", "model=a", "app-server", "--config=model=b", "--enable", "x", "-p", "deep"],
            (("model=a", "model=b", "features.x=true"), "deep", "stdio://", False),
        ),
        (
            ["--disable", "y", "app-server", "--stdio", "--analytics-default-enabled"],
            (("features.y=false",), None, "stdio://", True),
        ),
        (["app-server", "--listen", "ws://127.0.0.1:0"], ((), None, "ws://127.0.0.1:0", False)),
        (["app-server", "--listen=stdio://"], ((), None, "stdio://", False)),
    ],
)
def test_parse_usual_command_lines(
    argv: list[str], expected: tuple[tuple[str, ...], str | None, str, bool]
) -> None:
    assert parse(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["app-server", "--help"],
        ["--version", "app-server"],
        ["app-server", "--bogus"],
        ["app-server", "extra"],
        ["--listen", "stdio://", "app-server"],  # --listen belongs after the command
        ["app-server", "-c"],  # a missing value
        ["app-server", "--enable", "bad name"],
        ["app-server", "-p", " "],
        ["app-server", "--ws-token-file", "/tmp/token"],
        ["app-server", "--listen", "ws://0.0.0.0:8765"],  # non-loopback: the token rules
        ["app-server", "--listen", "ws://127.0.0.1"],  # no port
        ["app-server", "--listen", "off"],
        ["app-server", "--listen", "ws://127.0.0.1:0", "--stdio"],
        ["app-server", "-c", "=1"],  # a malformed override: the full interface explains it
        ["exec", "hi"],
    ],
)
def test_everything_else_is_left_to_the_full_interface(argv: list[str]) -> None:
    assert fast_app_server(argv) is False


def _probe(home: Path, tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        input=INITIALIZE + "\n",
        capture_output=True,
        text=True,
        env=cli_env(home, THREADLINE_WARM_UP="0"),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_fast_path_serves_without_typer_rich_or_sdks(cli_home: Path, tmp_path: Path) -> None:
    proc = _probe(cli_home, tmp_path, ["-c", "model=fast-model", "app-server", "--stdio"])
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.splitlines()[0])
    assert answer["id"] == 1 and "userAgent" in answer["result"]
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["loaded"] == []


def test_fallback_runs_the_typer_command(cli_home: Path, tmp_path: Path) -> None:
    proc = _probe(cli_home, tmp_path, ["app-server", "--listen", "stdio", "--ws-auth",
                                       "capability-token"])
    # The typer command's own check, as before the fast path existed.
    assert proc.returncode == 2
    assert "--ws-auth capability-token needs --ws-token-file" in proc.stderr
    help_text = subprocess.run(
        cli_argv("app-server", "--help"), capture_output=True, text=True,
        env=cli_env(cli_home), cwd=tmp_path, timeout=60, check=False,
    )
    assert help_text.returncode == 0 and "--listen" in help_text.stdout


def test_fast_path_config_error_exits_2(cli_home: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        cli_argv("app-server", "-c", "approval_policy=sometimes"), input="",
        capture_output=True, text=True, env=cli_env(cli_home), cwd=tmp_path, timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "approval_policy" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_warm_up_imports_modules_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"tl_warm_probe_{time.monotonic_ns()}"
    (tmp_path / f"{name}.py").write_text(
        "import threading\nTHREAD = threading.current_thread().name\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("THREADLINE_WARM_UP", raising=False)
    # A module that does not exist is skipped, the next one still loads.
    serve.warm_up_later(["tl_no_such_module_for_warm_up", name])
    deadline = time.monotonic() + 30
    while getattr(sys.modules.get(name), "THREAD", None) is None:
        assert time.monotonic() < deadline, "the warm-up thread never imported the module"
        time.sleep(0.01)
    assert sys.modules[name].THREAD == "threadline-warm-up"


def test_warm_up_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_WARM_UP", "0")
    before = {t.ident for t in threading.enumerate()}
    serve.warm_up_later(["json"])
    started = [t for t in threading.enumerate()
               if t.ident not in before and t.name == "threadline-warm-up"]
    assert started == []


def test_build_deferred_models_builds_what_first_use_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"tl_deferred_probe_{time.monotonic_ns()}"
    (tmp_path / f"{name}.py").write_text(
        "from __future__ import annotations\n"
        "from pydantic import BaseModel, ConfigDict\n"
        "class Later(BaseModel):\n"
        "    model_config = ConfigDict(defer_build=True)\n"
        "    inner: Inner\n"
        "class Inner(BaseModel):\n"
        "    model_config = ConfigDict(defer_build=True)\n"
        "    n: int\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    assert not module.Later.__pydantic_complete__
    assert serve.build_deferred_models([name, "tl_not_imported_module"]) == 2
    assert module.Later.__pydantic_complete__ and module.Inner.__pydantic_complete__
    assert module.Later.model_validate({"inner": {"n": 3}}).inner.n == 3
    assert serve.build_deferred_models([name]) == 0  # nothing left to build
