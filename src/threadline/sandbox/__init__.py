"""Sandboxing of commands (bubblewrap) and the approval-policy decisions.

The names below load with their module on first use (``threadline.sandbox.limits`` and
``env_policy``, which the config needs, load nothing else). The default process limit
lives here: the config's defaults need the number, not the cgroup code of ``limits``.
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

DEFAULT_MAX_PROCESSES = 256
"""Processes (threads count too, as the kernel counts them) one command may have at once."""

__all__ = [
    "APPROVAL_POLICIES",
    "DEFAULT_MAX_PROCESSES",
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
