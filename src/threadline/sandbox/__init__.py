"""Sandboxing of commands (bubblewrap) and the approval-policy decisions."""

from threadline.sandbox.bwrap import (
    BWRAP_ENV,
    SandboxUnavailable,
    bwrap_argv,
    ensure_bwrap,
    find_bwrap,
)
from threadline.sandbox.policy import (
    APPROVAL_POLICIES,
    SANDBOX_MODES,
    ExecPlan,
    SandboxPolicy,
    SessionApprovals,
    assess,
    is_known_safe,
    looks_like_sandbox_denial,
)

__all__ = [
    "APPROVAL_POLICIES",
    "BWRAP_ENV",
    "SANDBOX_MODES",
    "ExecPlan",
    "SandboxPolicy",
    "SandboxUnavailable",
    "SessionApprovals",
    "assess",
    "bwrap_argv",
    "ensure_bwrap",
    "find_bwrap",
    "is_known_safe",
    "looks_like_sandbox_denial",
]
