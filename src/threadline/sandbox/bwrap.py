"""Sandbox policy → bubblewrap command line, and a run-time check that bubblewrap works.

The layout inside the sandbox:

* the whole host filesystem bound read-only (``--ro-bind / /``), a fresh ``/dev`` and
  ``/proc`` (in a new PID namespace);
* ``workspace-write``: the working directory, each writable root and ``/tmp`` bound
  read-write on top — except ``.git`` directories directly inside them, which stay
  read-only so a command cannot rewrite history or hooks;
* no network (a new, empty network namespace) unless the policy allows it;
* ``--die-with-parent`` so the sandbox never outlives the process that started it.

``danger-full-access`` has no sandbox and needs no bubblewrap.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from threadline.sandbox.policy import SandboxPolicy

BWRAP_ENV = "THREADLINE_BWRAP"
"""Overrides the bubblewrap executable (default: ``bwrap`` on ``PATH``)."""

_PROBE_TIMEOUT_S = 10.0


class SandboxUnavailable(Exception):
    """Bubblewrap is missing or cannot create its namespaces; commands must not run."""


def find_bwrap() -> str | None:
    explicit = os.environ.get(BWRAP_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("bwrap")


def _writable_roots(policy: SandboxPolicy, cwd: Path) -> list[Path]:
    roots: list[Path] = []
    candidates = [cwd, *(Path(r) for r in policy.writable_roots)]
    if policy.writable_tmp:
        candidates.append(Path("/tmp"))
    for root in candidates:
        resolved = root.resolve() if root.is_absolute() else (cwd / root).resolve()
        if resolved.is_dir() and resolved not in roots:
            roots.append(resolved)
    return roots


def bwrap_argv(
    policy: SandboxPolicy, cwd: Path, command: Sequence[str], *, bwrap: str = "bwrap"
) -> list[str]:
    """The full argv that runs ``command`` in ``cwd`` under ``policy``."""
    if not policy.sandboxed:
        raise ValueError("danger-full-access has no sandbox")
    argv = [
        bwrap,
        "--die-with-parent",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
    ]
    if not policy.allows_network:
        argv.append("--unshare-net")
    if policy.mode == "workspace-write":
        roots = _writable_roots(policy, cwd)
        for root in roots:
            argv += ["--bind", str(root), str(root)]
        # After every writable bind, so that a root containing another (``/tmp`` holding
        # the workspace) cannot make a ``.git`` writable again.
        for root in roots:
            git = root / ".git"
            if git.exists():
                argv += ["--ro-bind", str(git), str(git)]
    argv += ["--chdir", str(cwd), "--", *command]
    return argv


_probes: dict[str, str] = {}
"""bubblewrap path → ``""`` when it works here, else why not (probed once per process)."""


async def ensure_bwrap() -> str:
    """Return the bubblewrap path after checking once that it can build a sandbox here.

    Raises :class:`SandboxUnavailable` with a readable reason otherwise (missing binary,
    no user namespaces, …). The answer is cached per executable for the process.
    """
    exe = find_bwrap()
    if exe is None:
        raise SandboxUnavailable(
            "bubblewrap (`bwrap`) is not installed; install the `bubblewrap` package "
            "or use sandbox mode danger-full-access"
        )
    if exe not in _probes:
        _probes[exe] = await _run_probe(exe)
    failure = _probes[exe]
    if failure:
        raise SandboxUnavailable(f"bubblewrap cannot create a sandbox here: {failure}")
    return exe


async def _run_probe(exe: str) -> str:
    argv = bwrap_argv(SandboxPolicy(mode="read-only"), Path("/"), ["/bin/true"], bwrap=exe)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), _PROBE_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    if proc.returncode != 0:
        text = err.decode("utf-8", "replace").strip()
        return text or f"exit code {proc.returncode}"
    return ""


def reset_probe() -> None:
    """Forget the cached probe results."""
    _probes.clear()


__all__ = [
    "BWRAP_ENV",
    "SandboxUnavailable",
    "bwrap_argv",
    "ensure_bwrap",
    "find_bwrap",
    "reset_probe",
]
