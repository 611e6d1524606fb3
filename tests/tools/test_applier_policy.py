"""The patch tool's pieces without a turn: the policy decision, the streamed and final
change lists, and the write under real bubblewrap (as root and as the unprivileged
``tluser``), where the sandbox refuses a path the decision would have refused too."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import threadline
from threadline.protocol import events as ev
from threadline.protocol.v2.item_parts import (
    AddPatchChangeKind,
    FileUpdateChange,
    UpdatePatchChangeKind,
)
from threadline.sandbox import find_bwrap
from threadline.sandbox.policy import SandboxPolicy
from threadline.tools.apply_patch import parse_patch, parse_patch_streaming, plan_patch
from threadline.tools.patch_flow import (
    REJECTED_OUTSIDE,
    PatchApprovals,
    assess_patch,
    item_changes,
    run_patch,
    streaming_changes,
)
from threadline.tools.patch_tool import diff_root

UNPRIVILEGED_USER = "tluser"


@pytest.fixture
def base() -> Iterator[Path]:
    """``ws`` and ``outside`` side by side, outside ``/tmp`` (a writable root)."""
    path = Path(tempfile.mkdtemp(prefix="threadline-applier-", dir="/var/tmp"))
    (path / "ws").mkdir()
    (path / "outside").mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _plan(text: str, cwd: Path) -> list:  # type: ignore[type-arg]
    return plan_patch(parse_patch(text), cwd)


# ---- the decision --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sandbox", "approval", "inside", "expected"),
    [
        ("workspace-write", "never", True, "apply-sandboxed"),
        ("workspace-write", "on-request", True, "apply-sandboxed"),
        ("workspace-write", "untrusted", True, "ask-sandboxed"),
        ("workspace-write", "never", False, "reject"),
        ("workspace-write", "on-request", False, "reject"),
        ("workspace-write", "untrusted", False, "reject"),
        ("read-only", "never", True, "reject"),
        ("read-only", "on-request", True, "ask-unsandboxed"),
        ("read-only", "untrusted", False, "ask-unsandboxed"),
        ("danger-full-access", "never", False, "apply-unsandboxed"),
        ("danger-full-access", "untrusted", True, "ask-unsandboxed"),
    ],
)
def test_the_decision_table(
    base: Path, sandbox: str, approval: str, inside: bool, expected: str
) -> None:
    ws = base / "ws"
    (base / "outside" / "f.txt").write_text("x\n")
    (ws / "f.txt").write_text("x\n")
    target = "f.txt" if inside else str(base / "outside" / "f.txt")
    changes = _plan(f"*** Begin Patch\n*** Update File: {target}\n@@\n-x\n+y\n*** End Patch", ws)
    decision = assess_patch(
        approval, SandboxPolicy.from_mode(sandbox), ws, changes, PatchApprovals()
    )
    if expected == "reject":
        assert decision.reject is not None
        if sandbox == "read-only":
            assert decision.reject == REJECTED_OUTSIDE
        else:
            assert str(base / "outside" / "f.txt") in decision.reject
        return
    assert decision.reject is None
    action, where = expected.split("-")
    assert decision.ask == (action == "ask")
    assert decision.sandboxed == (where == "sandboxed")


def test_approved_files_are_not_asked_again(base: Path) -> None:
    ws = base / "ws"
    (ws / "a.txt").write_text("x\n")
    (ws / "b.txt").write_text("x\n")
    policy = SandboxPolicy.from_mode("read-only")
    approvals = PatchApprovals()
    a = _plan("*** Begin Patch\n*** Update File: a.txt\n@@\n-x\n+y\n*** End Patch", ws)
    both = _plan(
        "*** Begin Patch\n*** Update File: a.txt\n@@\n-x\n+y\n"
        "*** Update File: b.txt\n@@\n-x\n+y\n*** End Patch",
        ws,
    )
    assert assess_patch("on-request", policy, ws, a, approvals).ask
    approvals.remember([ws / "a.txt"])
    assert not assess_patch("on-request", policy, ws, a, approvals).ask
    assert assess_patch("on-request", policy, ws, both, approvals).ask


def test_a_configured_writable_root_is_writable(base: Path) -> None:
    ws = base / "ws"
    (base / "outside" / "f.txt").write_text("x\n")
    changes = _plan(
        f"*** Begin Patch\n*** Update File: {base}/outside/f.txt\n@@\n-x\n+y\n*** End Patch", ws
    )
    policy = SandboxPolicy.from_mode("workspace-write", writable_roots=("../outside",))
    decision = assess_patch("never", policy, ws, changes, PatchApprovals())
    assert decision.reject is None and decision.sandboxed


# ---- what the items show ---------------------------------------------------------------------


def test_streaming_changes_show_the_lines_so_far() -> None:
    partial = (
        "*** Begin Patch\n*** Update File: b.txt\n*** Move to: c.txt\n@@ def f():\n one\n-two\n"
        "+TWO\n*** End of File\n*** Add File: a.txt\n+hel"
    )
    complete_lines = partial[: partial.rfind("\n") + 1]
    assert streaming_changes(parse_patch_streaming(complete_lines)) == [
        FileUpdateChange(path="a.txt", kind=AddPatchChangeKind(), diff=""),
        FileUpdateChange(
            path="b.txt",
            kind=UpdatePatchChangeKind(move_path="c.txt"),
            diff="@@ def f():\n-one\n-two\n+one\n+TWO\n*** End of File\n",
        ),
    ]


def test_a_file_patched_twice_shows_its_net_change(base: Path) -> None:
    ws = base / "ws"
    changes = _plan(
        "*** Begin Patch\n*** Add File: n.txt\n+one\n*** Update File: n.txt\n@@\n-one\n+two\n"
        "*** End Patch",
        ws,
    )
    [shown] = item_changes(changes)
    assert shown.path == str(ws / "n.txt")
    assert shown.diff == "@@ -0,0 +1 @@\n+two\n"


def test_the_rollout_form_of_a_finished_patch_is_codexs_file_change_item() -> None:
    item = ev.FileChangeOutcome(
        id="call_1",
        changes=[
            FileUpdateChange(
                path="/w/m.txt",
                kind=UpdatePatchChangeKind(move_path="/w/n.txt"),
                diff="@@ -1 +1 @@\n-x\n+y\n\n\nMoved to: /w/n.txt",
            ),
            FileUpdateChange(path="/w/a.txt", kind=AddPatchChangeKind(), diff="hi\n"),
        ],
        status="completed",
        started_at_ms=5,
        stdout="Success. Updated the following files:\nA a.txt\nM n.txt\n",
    )
    done = ev.ItemCompleted(turn_id="t1", item=item, completed_at_ms=9)
    assert done.rollout_payload("th1") == {
        "type": "item_completed",
        "thread_id": "th1",
        "turn_id": "t1",
        "item": {
            "type": "FileChange",
            "id": "call_1",
            "changes": {
                "/w/m.txt": {
                    "type": "update",
                    "unified_diff": "@@ -1 +1 @@\n-x\n+y\n",
                    "move_path": "/w/n.txt",
                },
                "/w/a.txt": {"type": "add", "content": "hi\n"},
            },
            "status": "completed",
            "stdout": "Success. Updated the following files:\nA a.txt\nM n.txt\n",
            "stderr": "",
        },
        "started_at_ms": 5,
        "completed_at_ms": 9,
    }
    # stdout and stderr stay off the wire.
    assert "stdout" not in item.model_dump(by_alias=True)


def test_the_turn_diff_root_is_the_repository(base: Path) -> None:
    ws = base / "ws"
    (ws / "deep" / "er").mkdir(parents=True)
    assert diff_root(ws / "deep" / "er") == ws / "deep" / "er"
    (ws / ".git").mkdir()
    assert diff_root(ws / "deep" / "er") == ws / "deep" / "er"  # an empty .git is no repo
    (ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert diff_root(ws / "deep" / "er") == ws


# ---- the write under the sandbox ---------------------------------------------------------------

ESCAPING = "*** Begin Patch\n*** Add File: inside.txt\n+in\n*** Update File: {target}\n@@\n-keep\n+lost\n*** End Patch\n"


def _bwrap() -> None:
    if find_bwrap() is None:
        if os.environ.get("CI"):
            pytest.fail("bubblewrap is not installed")
        pytest.skip("bubblewrap is not installed")


async def test_the_sandbox_refuses_what_the_check_would_and_nothing_is_written(
    base: Path,
) -> None:
    _bwrap()
    ws, target = base / "ws", base / "outside" / "t.txt"
    target.write_bytes(b"keep\n")
    policy = SandboxPolicy.from_mode("workspace-write")
    run = await run_patch(
        ESCAPING.format(target=target), ws, policy=policy, root=ws, sandboxed=True
    )
    assert not run.ok
    assert "Read-only file system" in run.output
    assert target.read_bytes() == b"keep\n"
    assert not (ws / "inside.txt").exists()  # all or nothing, also on a sandbox refusal

    ok = await run_patch(
        "*** Begin Patch\n*** Add File: inside.txt\n+in\n*** End Patch\n",
        ws,
        policy=policy,
        root=ws,
        sandboxed=True,
    )
    assert ok.ok and ok.sandbox == "sandboxed"
    assert ok.output == "Success. Updated the following files:\nA inside.txt\n"
    assert (ws / "inside.txt").read_bytes() == b"in\n"


async def test_read_only_refuses_every_write_inside_the_sandbox(base: Path) -> None:
    _bwrap()
    ws = base / "ws"
    run = await run_patch(
        "*** Begin Patch\n*** Add File: x.txt\n+x\n*** End Patch\n",
        ws,
        policy=SandboxPolicy.from_mode("read-only"),
        root=ws,
        sandboxed=True,
    )
    assert not run.ok and not (ws / "x.txt").exists()
    # The same patch approved (an escalation) is written outside the sandbox.
    approved = await run_patch(
        "*** Begin Patch\n*** Add File: x.txt\n+x\n*** End Patch\n",
        ws,
        policy=SandboxPolicy.from_mode("read-only"),
        root=ws,
        sandboxed=False,
    )
    assert approved.ok and approved.sandbox == "unsandboxed"
    assert (ws / "x.txt").read_bytes() == b"x\n"


_AS_USER = """
import asyncio, json, sys
from pathlib import Path
from threadline.sandbox.policy import SandboxPolicy
from threadline.tools.patch_flow import run_patch
ws = Path(sys.argv[1])
run = asyncio.run(run_patch(sys.stdin.read(), ws, policy=SandboxPolicy.from_mode("workspace-write"),
                            root=ws, sandboxed=True))
print(json.dumps({"ok": run.ok, "output": run.output}))
"""


def test_the_sandbox_refuses_the_escape_for_an_unprivileged_user(base: Path) -> None:
    _bwrap()
    if os.geteuid() != 0:
        pytest.skip("pytest already runs unprivileged: the test above covers it")
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        if os.environ.get("CI"):
            pytest.fail(f"the unprivileged user {UNPRIVILEGED_USER!r} does not exist")
        pytest.skip(f"the unprivileged user {UNPRIVILEGED_USER!r} does not exist")
    ws, target = base / "ws", base / "outside" / "t.txt"
    target.write_bytes(b"keep\n")
    for path in (base, ws, base / "outside", target):
        os.chown(path, user.pw_uid, user.pw_gid)
    src = str(Path(threadline.__file__).resolve().parents[1])
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": user.pw_dir,
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{src}:{sysconfig.get_paths()['purelib']}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in dict.fromkeys(
        [sys.executable, getattr(sys, "_base_executable", ""), f"/usr/bin/{version}"]
    ):
        if not python:
            continue
        try:
            proc = subprocess.run(
                [python, "-c", _AS_USER, str(ws)],
                input=ESCAPING.format(target=target),
                capture_output=True,
                text=True,
                env=env,
                cwd="/",
                user=user.pw_uid,
                group=user.pw_gid,
                extra_groups=[],
                timeout=60,
                check=False,
            )
        except OSError:
            continue
        if proc.returncode == 0:
            break
    else:
        pytest.fail("no interpreter the unprivileged user can run imports threadline")
    result = json.loads(proc.stdout)
    assert result["ok"] is False, result
    assert "Read-only file system" in result["output"]
    assert target.read_bytes() == b"keep\n"
    assert not (ws / "inside.txt").exists()


async def test_a_package_in_the_workspace_cannot_stand_in_for_the_runner(base: Path) -> None:
    ws = base / "ws"
    (ws / "threadline").mkdir()
    (ws / "threadline" / "__init__.py").write_text("raise SystemExit('hijacked')\n")
    run = await run_patch(
        "*** Begin Patch\n*** Add File: ok.txt\n+ok\n*** End Patch\n",
        ws,
        policy=SandboxPolicy.from_mode("danger-full-access"),
        root=ws,
        sandboxed=False,
    )
    assert run.ok, run.output
    assert (ws / "ok.txt").read_bytes() == b"ok\n"
