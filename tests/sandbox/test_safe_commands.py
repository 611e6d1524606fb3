"""Known-safe commands under ``untrusted``: Codex's read-only rules, table-driven.

The decisions are checked through :func:`assess` (what the shell tool follows), and a
few through the real ``exec_command`` tool, where an unsafe command must produce an
approval request (and, declined, must not have run) while a safe one runs at once.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline.protocol import events as ev
from threadline.sandbox import SandboxPolicy, assess
from threadline.sandbox.safe_commands import is_known_safe, parse_plain_commands
from threadline.tools.registry import DecisionHook, ToolContext
from threadline.tools.shell import REJECTED_BY_USER, ExecCommandTool

WS = SandboxPolicy.from_mode("workspace-write")
FULL = SandboxPolicy.from_mode("danger-full-access")

# Commands that write, delete, run other programs or change the system: they must ask.
WRITES = [
    # the audit's examples (issue #9, item 5)
    "sort -o F input.txt",
    "uniq IN OUT",
    "uniq -c IN OUT",
    "uniq -f 1 IN OUT",
    "uniq -- IN OUT",
    "find . -fprintf F '%p'",
    "find . -fprint0 F",
    "date -s '2020-01-01'",
    "hostname NAME",
    # find: execute, delete, write names to a file
    "find . -name file.txt -exec rm {} ;",
    "find . -name '*.py' -execdir python3 {} ;",
    "find . -name file.txt -ok rm {} ;",
    "find . -name '*.py' -okdir python3 {} ;",
    "find . -delete -name file.txt",
    "find . -fls /etc/passwd",
    "find . -fprint /etc/passwd",
    # ripgrep: preprocessors, hostname helpers, decompressors
    "rg --pre pwned files",
    "rg --pre=pwned files",
    "rg --hostname-bin pwned files",
    "rg --hostname-bin=pwned files",
    "rg --search-zip files",
    "rg -z files",
    "rg -nz files",
    # git: only reading subcommands, no output files, helpers, config or repository redirection
    "git fetch",
    "git checkout status",
    "git branch -d feature",
    "git branch new-branch",
    "git -C . branch -d feature",
    "git -C . status",
    "git --git-dir=/tmp/x status",
    "git --work-tree /tmp status",
    "git -c core.pager=cat log -n 1",
    "git -ccore.pager=cat status",
    "git --config-env=core.pager=X status",
    "git -p status",
    "git --paginate show HEAD",
    "git log --output=/tmp/git-log-out -n 1",
    "git diff --output /tmp/git-diff-out",
    "git show --output=/tmp/git-show-out HEAD",
    "git diff --ext-diff",
    "git log --textconv",
    "git log --outp=/tmp/abbreviated",
    # sed: only -n {N|M,N}p
    "sed -n xp file.txt",
    "sed -i s/a/b/ file.txt",
    "sed -n 1,5p a b",
    "sed -n 1p -ewout",
    # base64 writing a file
    "base64 -o out.bin",
    "base64 --output out.bin",
    "base64 --output=out.bin",
    "base64 -ob64.txt",
    # programs that are not on the list at all
    "touch approved.txt",
    "rm -rf build",
    "cargo check",
    "python -c 'print(1)'",
    "printenv",
    "tee out.txt",
    # shell syntax that is not plain words joined by && || ; |
    "ls > out.txt",
    "echo hi >> out.txt",
    "cat < in.txt",
    "echo $(rm -rf /)",
    "echo `pwd`",
    'echo "$HOME"',
    "echo $HOME",
    "(ls)",
    "ls || (pwd && echo hi)",
    "{ ls; }",
    "echo hi & echo bye",
    "FOO=bar ls",
    "ls &&",
    "&& ls",
    "; ls",
    "ls ;; pwd",
    "ls | | wc",
    "ls |& wc",
    "ls # comment",
    "! ls",
    "ls \\-la",
    "find . \\-delete",
    "find . -{delete,print}",
    "find . *",
    "ls /etc/*",
    "echo 'unterminated",
    'echo "unterminated',
    "",
    "   ",
    # programs named by a path the workspace controls
    "./ls",
    "bin/cat x",
    "/tmp/cat x",
    "/usr/bin/../../tmp/cat x",
    # a safe command chained with an unsafe one
    "ls && rm -rf /",
    "ls | rm foo",
    "ls ; rm foo",
    "cat x | sort -o y",
]

# Codex's own known-safe examples (and a few more): they run without asking.
READS = [
    "ls",
    "ls -1",
    "ls -la",
    "cat README.md",
    "cd src && ls",
    "cut -d: -f1 /etc/passwd",
    "echo hi",
    "echo 123 456",
    "expr 1 + 2",
    "false",
    "true",
    'grep -R "Cargo.toml" -n',
    'grep -R "Cargo.toml" -n || true',
    "head -n 5 README.md",
    "tail -n 5 README.md",
    "id",
    "nl -nrz Cargo.toml",
    "paste a b",
    "pwd",
    "rev x",
    "seq 1 3",
    "stat README.md",
    "tr a-z A-Z",
    "uname -a",
    "uniq",
    "uniq IN",
    "uniq -c -f 2 IN",
    "wc -l README.md",
    "which python3",
    "whoami",
    "base64",
    "base64 -d x",
    "find . -name file.txt",
    "find . -name '*.py' -type f",
    "rg Cargo.toml -n",
    "rg --context 1 --heading foo",
    'rg -n "foo" -g"*.py"',
    "rg --pre-glob '*.x' foo",
    "git status",
    "git log -p -1",
    "git diff --stat",
    "git show HEAD",
    "git branch",
    "git branch --show-current",
    "git branch -a -v",
    "git branch '--format=%(refname)'",
    "git --no-pager log -n 3",
    "git diff --no-ext-diff",
    "sed -n 1,5p file.txt",
    "sed -n '1,5p' file.txt",
    "sed -n 10p",
    "/usr/bin/ls",
    "/bin/cat x",
    "ls && pwd",
    "echo 'hi' ; ls",
    "ls | wc -l",
    "ls && git status || head",
    "ls;",
    "ls\npwd\n",
    "ls &&\n  pwd",
    "echo '$HOME is literal here'",
    'echo "/usr"\'/\'"local"/bin',
]


@pytest.mark.parametrize("command", WRITES)
def test_untrusted_asks_for_commands_that_are_not_read_only(command: str) -> None:
    plan = assess("untrusted", WS, command)
    assert plan.ask is True, command
    assert plan.reject is None
    assert is_known_safe(command) is False


@pytest.mark.parametrize("command", READS)
def test_untrusted_runs_read_only_commands_without_asking(command: str) -> None:
    plan = assess("untrusted", WS, command)
    assert plan.ask is False, command
    assert plan.sandboxed is True


@pytest.mark.parametrize("command", ["numfmt 1000", "tac Cargo.toml"])
def test_numfmt_and_tac_are_safe_only_on_linux(command: str) -> None:
    assert is_known_safe(command) is sys.platform.startswith("linux")


def test_outside_the_sandbox_a_read_only_command_still_runs_without_asking() -> None:
    assert assess("untrusted", FULL, "ls").ask is False
    assert assess("untrusted", FULL, "sort -o F x").ask is True


@pytest.mark.parametrize(
    ("shell", "safe"),
    [
        (None, True),
        ("bash", True),
        ("/bin/bash", True),
        ("/usr/bin/zsh", True),
        ("sh", True),
        ("python3", False),
        ("/usr/bin/env", False),
        ("./bash", False),
        ("/tmp/bash", False),
    ],
)
def test_only_a_known_shell_makes_the_script_count(shell: str | None, safe: bool) -> None:
    # ``ls`` given to another program is not ``ls``.
    assert is_known_safe("ls", shell) is safe
    assert assess("untrusted", WS, "ls", shell=shell).ask is not safe


@pytest.mark.parametrize(
    ("script", "words"),
    [
        ("ls -1", [["ls", "-1"]]),
        (
            "ls && pwd; echo 'hi there' | wc -l",
            [["ls"], ["pwd"], ["echo", "hi there"], ["wc", "-l"]],
        ),
        ('echo "hello world"', [["echo", "hello world"]]),
        ('echo "/usr"\'/\'"local"/bin', [["echo", "/usr/local/bin"]]),
        ("echo ''", [["echo", ""]]),
        ('git commit -m "line1\nline2"', [["git", "commit", "-m", "line1\nline2"]]),
        ("rg -n 'pattern' -g'*.txt'", [["rg", "-n", "pattern", "-g*.txt"]]),
        ("\n\nls\n\n", [["ls"]]),
        ("echo a=b", [["echo", "a=b"]]),
        ("echo 'FOO=1'", [["echo", "FOO=1"]]),
        ("FOO=1 ls", None),
        ('echo "hi ${USER}"', None),
        ('echo "a\\"b"', None),
        ("ls &", None),
        ("ls 2>/dev/null", None),
        ("cat <<EOF\nx\nEOF", None),
        ("ls\n&& pwd", None),
    ],
)
def test_plain_script_parsing(script: str, words: list[list[str]] | None) -> None:
    assert parse_plain_commands(script) == words


# ---- through the real tool ------------------------------------------------------------------


class Asker:
    """Records approval requests and answers them with a fixed decision."""

    def __init__(self, decision: str) -> None:
        self.decision = decision
        self.requests: list[ev.ExecApprovalRequest] = []

    async def __call__(
        self,
        request: ev.ExecApprovalRequest,
        started_item: Any | None,
        on_decision: DecisionHook | None,
    ) -> str:
        self.requests.append(request)
        if on_decision is not None:
            await on_decision(self.decision)
        return self.decision


async def exec_untrusted(cwd: Path, cmd: str, asker: Asker, sandbox: str) -> str:
    async def emit(msg: Any) -> None:
        return None

    ctx = ToolContext(
        thread_id="thread-1",
        turn_id="turn-1",
        call_id="call-1",
        cwd=cwd,
        emit=emit,
        complete_item=emit,
        request_approval=asker,
        approval_policy="untrusted",
        sandbox_mode=sandbox,
    )
    out = await ExecCommandTool().run(ctx, json.dumps({"cmd": cmd, "login": False}))
    return out.text


# Each writes a file called ``made`` in the workspace when it runs.
_WRITING_RUNS = [
    "sort -o made input.txt",
    "uniq input.txt made",
    "find input.txt -fprintf made '%p'",
    "find input.txt -fprint0 made",
    "find input.txt -fprint made",
    "find input.txt -fls made",
    "ls | sort -o made",
]


@pytest.mark.parametrize("sandbox", ["workspace-write", "danger-full-access"])
@pytest.mark.parametrize("cmd", _WRITING_RUNS)
async def test_the_tool_asks_before_a_writing_command_and_a_decline_stops_it(
    tmp_path: Path, cmd: str, sandbox: str
) -> None:
    (tmp_path / "input.txt").write_text("b\na\na\n", encoding="utf-8")
    asker = Asker("decline")
    text = await exec_untrusted(tmp_path, cmd, asker, sandbox)
    assert len(asker.requests) == 1
    assert shlex.split(asker.requests[0].command)[-1] == cmd
    assert text == REJECTED_BY_USER
    assert not (tmp_path / "made").exists()


async def test_the_tool_runs_an_approved_writing_command(tmp_path: Path) -> None:
    (tmp_path / "input.txt").write_text("b\na\n", encoding="utf-8")
    asker = Asker("accept")
    await exec_untrusted(tmp_path, "sort -o made input.txt", asker, "workspace-write")
    assert len(asker.requests) == 1
    assert (tmp_path / "made").read_text(encoding="utf-8") == "a\nb\n"


@pytest.mark.parametrize("sandbox", ["workspace-write", "danger-full-access"])
async def test_the_tool_runs_a_read_only_command_without_asking(
    tmp_path: Path, sandbox: str
) -> None:
    (tmp_path / "input.txt").write_text("b\na\na\n", encoding="utf-8")
    asker = Asker("decline")
    text = await exec_untrusted(tmp_path, "uniq input.txt && sed -n 1p input.txt", asker, sandbox)
    assert asker.requests == []
    assert "Process exited with code 0" in text
    assert text.endswith("b\na\nb\n")


async def test_the_tool_asks_when_a_safe_script_goes_to_another_program(tmp_path: Path) -> None:
    # ``ls`` handed to ``python3 -c`` is not ``ls``: the shell argument counts too.
    asker = Asker("decline")

    async def emit(msg: Any) -> None:
        return None

    ctx = ToolContext(
        thread_id="thread-1",
        turn_id="turn-1",
        call_id="call-1",
        cwd=tmp_path,
        emit=emit,
        complete_item=emit,
        request_approval=asker,
        approval_policy="untrusted",
        sandbox_mode="danger-full-access",
    )
    args = {"cmd": "ls", "login": False, "shell": sys.executable}
    out = await ExecCommandTool().run(ctx, json.dumps(args))
    assert len(asker.requests) == 1
    assert out.text == REJECTED_BY_USER
