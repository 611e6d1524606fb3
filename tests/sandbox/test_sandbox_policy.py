"""Approval-policy decisions and the bubblewrap command line (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.sandbox import (
    SandboxPolicy,
    SessionApprovals,
    assess,
    bwrap_argv,
    is_known_safe,
    looks_like_sandbox_denial,
)

WS = SandboxPolicy.from_mode("workspace-write")
RO = SandboxPolicy.from_mode("read-only")
FULL = SandboxPolicy.from_mode("danger-full-access")


@pytest.mark.parametrize(
    ("command", "safe"),
    [
        ("ls -la", True),
        ("cat README.md && wc -l README.md", True),
        ("grep -rn foo src | head -5", True),
        ("find . -name '*.py'", True),
        ("find . -name '*.pyc' -delete", False),
        ("rg --pre ./evil foo", False),
        ("touch approved.txt", False),
        ("echo hi > out.txt", False),
        ("echo $(rm -rf /)", False),
        ("rm -rf build", False),
        ("python -c 'print(1)'", False),
        ("", False),
        ("echo 'unterminated", False),
    ],
)
def test_known_safe_commands(command: str, safe: bool) -> None:
    assert is_known_safe(command) is safe


def test_untrusted_asks_for_anything_not_known_safe() -> None:
    ask = assess("untrusted", WS, "touch approved.txt")
    assert (ask.ask, ask.sandboxed, ask.reject) == (True, True, None)
    safe = assess("untrusted", WS, "ls")
    assert (safe.ask, safe.sandboxed) == (False, True)


def test_on_request_asks_only_for_escalation_and_then_leaves_the_sandbox() -> None:
    plain = assess("on-request", WS, "touch x")
    assert (plain.ask, plain.sandboxed) == (False, True)
    esc = assess(
        "on-request", WS, "touch /etc/x", escalation_requested=True, justification="needs /etc"
    )
    assert (esc.ask, esc.sandboxed, esc.reason) == (True, False, "needs /etc")


def test_on_failure_runs_sandboxed_and_asks_after_a_denial() -> None:
    plan = assess("on-failure", WS, "touch /etc/x")
    assert (plan.ask, plan.sandboxed, plan.ask_on_sandbox_failure) == (False, True, True)
    # Outside any sandbox there is nothing to retry without.
    assert assess("on-failure", FULL, "touch /etc/x").ask_on_sandbox_failure is False


def test_never_never_asks_and_refuses_escalation() -> None:
    plan = assess("never", RO, "rm -rf build")
    assert (plan.ask, plan.sandboxed, plan.reject) == (False, True, None)
    esc = assess("never", WS, "touch /etc/x", escalation_requested=True)
    assert esc.reject is not None and "never" in esc.reject
    # With no sandbox, "escalation" means nothing and is not refused.
    assert assess("never", FULL, "x", escalation_requested=True).reject is None


def test_danger_full_access_runs_unsandboxed() -> None:
    assert assess("never", FULL, "touch x").sandboxed is False
    assert assess("untrusted", FULL, "touch x").ask is True


def test_session_approvals_cover_exact_commands_and_prefixes() -> None:
    approved = SessionApprovals()
    approved.remember("touch a.txt")
    approved.remember("git pull --rebase", ["git", "pull"])
    assert assess("untrusted", WS, "touch a.txt", approved=approved).ask is False
    assert assess("untrusted", WS, "touch b.txt", approved=approved).ask is True
    assert assess("untrusted", WS, "git pull origin main", approved=approved).ask is False
    assert assess("untrusted", WS, "git push", approved=approved).ask is True


def test_unknown_policy_names_are_errors() -> None:
    with pytest.raises(ValueError, match="approval policy"):
        assess("sometimes", WS, "ls")
    with pytest.raises(ValueError, match="sandbox mode"):
        SandboxPolicy.from_mode("half-open")


def test_sandbox_denial_heuristic() -> None:
    assert looks_like_sandbox_denial(1, "touch: cannot touch 'x': Read-only file system")
    assert looks_like_sandbox_denial(6, "curl: (6) Could not resolve host: example.com")
    assert not looks_like_sandbox_denial(2, "ls: cannot access 'nope': No such file")
    assert not looks_like_sandbox_denial(0, "Permission denied")


def _pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_read_only_argv_binds_everything_read_only_without_network(tmp_path: Path) -> None:
    argv = bwrap_argv(RO, tmp_path, ["/bin/bash", "-c", "true"], seccomp_fd=7)
    assert argv[0] == "bwrap"
    assert _pairs(argv, "--ro-bind") == ["/", "/proc/sys"]
    assert _pairs(argv, "--seccomp") == ["7"]
    assert _pairs(argv, "--bind") == []
    assert "--unshare-net" in argv and "--die-with-parent" in argv
    assert argv[argv.index("--chdir") + 1] == str(tmp_path)
    assert argv[-4:] == ["--", "/bin/bash", "-c", "true"]


def test_workspace_write_argv_binds_cwd_roots_and_tmp(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    extra = tmp_path / "extra"
    extra.mkdir()
    policy = SandboxPolicy.from_mode(
        "workspace-write", writable_roots=(str(extra), str(tmp_path / "missing"))
    )
    argv = bwrap_argv(policy, work, ["true"], seccomp_fd=7)
    assert _pairs(argv, "--bind") == [str(work.resolve()), str(extra.resolve()), "/tmp"]
    # .git inside a writable root stays read-only, bound after (on top of) the root.
    assert _pairs(argv, "--ro-bind") == ["/", "/proc/sys", str((work / ".git").resolve())]
    assert "--unshare-net" in argv
    networked = SandboxPolicy.from_mode("workspace-write", network_access=True)
    assert "--unshare-net" not in bwrap_argv(networked, work, ["true"])


def test_full_access_has_no_bwrap_argv(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no sandbox"):
        bwrap_argv(FULL, tmp_path, ["true"])
