"""Sandbox policy and approval policy: what a command may touch, and when a human is asked.

Pure decisions, no I/O: :func:`assess` maps (approval policy, sandbox policy, the command,
whether the model asked to leave the sandbox) to an :class:`ExecPlan` that the shell tool
follows. The four approval policies behave as in Codex:

* ``untrusted`` — a command line made only of known read-only commands runs at once
  (Codex's known-safe rules, :mod:`threadline.sandbox.safe_commands`); anything else
  waits for the user.
* ``on-request`` — everything runs in the sandbox without asking; only a command for
  which the model requests escalated permissions waits for the user (and, if approved,
  runs outside the sandbox).
* ``on-failure`` — everything runs in the sandbox first; when the sandbox seems to be
  what made it fail, the user is asked whether to run it again without the sandbox.
* ``never`` — nobody is asked; failures go back to the model as they are.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

from threadline.sandbox.safe_commands import is_known_safe

SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]
ApprovalPolicy = Literal["untrusted", "on-request", "on-failure", "never"]

SANDBOX_MODES: tuple[str, ...] = ("read-only", "workspace-write", "danger-full-access")
APPROVAL_POLICIES: tuple[str, ...] = ("untrusted", "on-request", "on-failure", "never")


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """Where a sandboxed command may write and whether it may use the network.

    ``writable_roots`` and ``network_access`` only matter for ``workspace-write``
    (Codex's ``[sandbox_workspace_write]``); ``read-only`` never writes and never has
    network; ``danger-full-access`` is no sandbox at all.
    """

    mode: SandboxMode = "read-only"
    writable_roots: tuple[str, ...] = ()
    network_access: bool = False
    writable_tmp: bool = True
    """``workspace-write`` also lets commands write ``/tmp``, as Codex does."""

    @classmethod
    def from_mode(
        cls,
        mode: str,
        *,
        writable_roots: tuple[str, ...] = (),
        network_access: bool = False,
    ) -> SandboxPolicy:
        if mode not in SANDBOX_MODES:
            raise ValueError(f"unknown sandbox mode {mode!r}; expected one of {SANDBOX_MODES}")
        return cls(
            mode=mode,  # type: ignore[arg-type]
            writable_roots=tuple(writable_roots),
            network_access=network_access,
        )

    @property
    def sandboxed(self) -> bool:
        return self.mode != "danger-full-access"

    @property
    def allows_network(self) -> bool:
        if self.mode == "danger-full-access":
            return True
        return self.mode == "workspace-write" and self.network_access


@dataclass(frozen=True, slots=True)
class ExecPlan:
    """How to run one command.

    * ``reject`` — do not run it at all; the text goes back to the model.
    * ``ask`` — wait for the user first; a decline means the command never starts.
    * ``sandboxed`` — run inside the sandbox (else directly, with the user's rights).
    * ``ask_on_sandbox_failure`` — when a sandboxed run fails in a way that looks like
      the sandbox's doing, ask whether to run it again outside (``on-failure``).
    """

    sandboxed: bool
    ask: bool = False
    ask_on_sandbox_failure: bool = False
    reject: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class SessionApprovals:
    """What the user already approved for the rest of the thread."""

    commands: set[str] = field(default_factory=set)
    prefixes: list[tuple[str, ...]] = field(default_factory=list)

    def covers(self, command: str) -> bool:
        if command in self.commands:
            return True
        words = split_words(command)
        if words is None:
            return False
        return any(tuple(words[: len(p)]) == p for p in self.prefixes if p)

    def remember(self, command: str, prefix: list[str] | None = None) -> None:
        if prefix:
            self.prefixes.append(tuple(prefix))
        else:
            self.commands.add(command)


# ---- command words -----------------------------------------------------------------------


def split_words(command: str) -> list[str] | None:
    """``shlex`` words of a plain command line, or ``None`` when it does not parse."""
    try:
        return shlex.split(command)
    except ValueError:
        return None


# ---- the decision -------------------------------------------------------------------------


def assess(
    approval_policy: str,
    sandbox: SandboxPolicy,
    command: str,
    *,
    escalation_requested: bool = False,
    justification: str | None = None,
    approved: SessionApprovals | None = None,
    shell: str | None = None,
) -> ExecPlan:
    """Decide whether ``command`` runs, in the sandbox or not, and whether to ask first.

    ``shell`` is the program that will run the script (``None``: bash); under
    ``untrusted`` only a bash/zsh/sh script can count as known-safe.
    """
    if approval_policy not in APPROVAL_POLICIES:
        raise ValueError(f"unknown approval policy {approval_policy!r}")
    already = approved is not None and approved.covers(command)
    want_out = escalation_requested and sandbox.sandboxed
    if want_out:
        if approval_policy == "never":
            return ExecPlan(
                sandboxed=True,
                reject=(
                    "approval policy is `never`: escalated permissions cannot be granted; "
                    "run the command inside the sandbox or not at all"
                ),
            )
        if approval_policy == "on-failure":
            # Codex's on-failure only escalates after a sandboxed attempt fails.
            return ExecPlan(sandboxed=True, ask_on_sandbox_failure=True)
        return ExecPlan(sandboxed=False, ask=not already, reason=justification)
    if approval_policy == "untrusted":
        safe = is_known_safe(command, shell)
        return ExecPlan(sandboxed=sandbox.sandboxed, ask=not (safe or already))
    if approval_policy == "on-failure":
        return ExecPlan(sandboxed=sandbox.sandboxed, ask_on_sandbox_failure=sandbox.sandboxed)
    return ExecPlan(sandboxed=sandbox.sandboxed)


_DENIAL_HINTS = (
    "permission denied",
    "operation not permitted",
    "read-only file system",
    "network is unreachable",
    "temporary failure in name resolution",
    "could not resolve host",
)


def looks_like_sandbox_denial(exit_code: int | None, output: str) -> bool:
    """Whether a failed sandboxed run probably failed because of the sandbox."""
    if exit_code in (0, None):
        return False
    text = output.lower()
    return any(hint in text for hint in _DENIAL_HINTS)


__all__ = [
    "APPROVAL_POLICIES",
    "SANDBOX_MODES",
    "ApprovalPolicy",
    "ExecPlan",
    "SandboxMode",
    "SandboxPolicy",
    "SessionApprovals",
    "assess",
    "is_known_safe",
    "looks_like_sandbox_denial",
    "split_words",
]
