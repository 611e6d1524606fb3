"""Sandboxing of commands (bubblewrap) and the approval-policy decisions.

The names below load with their module on first use (``threadline.sandbox.limits`` and
``env_policy``, which the config needs, load nothing else).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_BWRAP = {"BWRAP_ENV", "SandboxUnavailable", "bwrap_argv", "ensure_bwrap", "find_bwrap"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = "bwrap" if name in _BWRAP else "policy"
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
