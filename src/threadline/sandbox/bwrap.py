"""Sandbox policy → bubblewrap command line, and a run-time check that bubblewrap works.

The layout inside the sandbox:

* the whole host filesystem bound read-only (``--ro-bind / /``), a fresh ``/dev`` and
  ``/proc`` (in a new PID namespace), with ``/proc/sys`` bound read-only on top:
  bubblewrap only covers the ``/proc`` entries it can write, and ``/proc/sys`` itself
  is mode 0555 while the sysctl files under it are writable by uid 0;
* ``workspace-write``: the thread's working directory, each writable root and ``/tmp``
  bound read-write on top — except ``.git`` directories directly inside them, which stay
  read-only so a command cannot rewrite history or hooks. A command's ``workdir`` is
  only where it starts (``--chdir``); it never adds a writable root;
* its own user namespace with every capability dropped (``--cap-drop ALL``, which
  matters when threadline runs as root: bubblewrap keeps root's capabilities
  otherwise) and no way to create another one (``--disable-userns``), so nothing inside
  can regain capabilities; bubblewrap always sets ``PR_SET_NO_NEW_PRIVS``;
* no network (a new, empty network namespace) unless the policy allows it, and then
  also the seccomp filter of :mod:`threadline.sandbox.seccomp`, which keeps the command
  away from unix sockets on the host;
* a bound on the number of processes (:mod:`threadline.sandbox.limits`);
* ``--die-with-parent`` so the sandbox never outlives the process that started it: its
  PID namespace dies with it, taking down every process the command left behind.

``danger-full-access`` has no sandbox and needs no bubblewrap.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from threadline.sandbox.limits import (
    LimitUnavailable,
    PidsCgroup,
    cgroup_parent,
    nproc_prefix,
)
from threadline.sandbox.policy import SandboxPolicy
from threadline.sandbox.seccomp import SeccompUnavailable, filter_fd

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


def _writable_roots(policy: SandboxPolicy, root: Path) -> list[Path]:
    roots: list[Path] = []
    candidates = [root, *(Path(r) for r in policy.writable_roots)]
    if policy.writable_tmp:
        candidates.append(Path("/tmp"))
    for candidate in candidates:
        resolved = candidate.resolve() if candidate.is_absolute() else (root / candidate).resolve()
        if resolved.is_dir() and resolved not in roots:
            roots.append(resolved)
    return roots


def bwrap_argv(
    policy: SandboxPolicy,
    root: Path,
    command: Sequence[str],
    *,
    start_dir: Path | None = None,
    bwrap: str = "bwrap",
    seccomp_fd: int | None = None,
) -> list[str]:
    """The full argv that runs ``command`` under ``policy``.

    ``root`` is the policy's base: the thread's working directory, writable under
    ``workspace-write`` along with the configured writable roots (relative ones are
    taken from it) and ``/tmp``. ``start_dir`` (default ``root``) is only where the
    command starts. ``seccomp_fd`` is an open descriptor holding the network filter; it
    is required when the policy has no network.
    """
    if not policy.sandboxed:
        raise ValueError("danger-full-access has no sandbox")
    if not policy.allows_network and seccomp_fd is None:
        raise ValueError("a sandbox without network needs the seccomp filter (seccomp_fd)")
    argv = [
        bwrap,
        "--die-with-parent",
        "--unshare-user",
        "--disable-userns",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--ro-bind",
        "/proc/sys",
        "/proc/sys",
    ]
    if not policy.allows_network:
        argv += ["--unshare-net", "--seccomp", str(seccomp_fd)]
    if policy.mode == "workspace-write":
        roots = _writable_roots(policy, root)
        for writable in roots:
            argv += ["--bind", str(writable), str(writable)]
        # After every writable bind, so that a root containing another (``/tmp`` holding
        # the workspace) cannot make a ``.git`` writable again.
        for writable in roots:
            git = writable / ".git"
            if git.exists():
                argv += ["--ro-bind", str(git), str(git)]
    argv += ["--chdir", str(start_dir or root), "--", *command]
    return argv


@dataclass(slots=True)
class Launch:
    """One sandboxed command, ready to start: its argv, the descriptors it inherits, and
    what to undo once it has ended (:meth:`finish`)."""

    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    cgroup: PidsCgroup | None = None
    _closed: bool = field(default=False, repr=False)

    def close_fds(self) -> None:
        """Close this side's copies of the passed descriptors (after the start)."""
        if not self._closed:
            self._closed = True
            for fd in self.pass_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    async def finish(self) -> None:
        """Kill whatever is left of the command's process tree and remove its cgroup."""
        self.close_fds()
        if self.cgroup is not None:
            await self.cgroup.remove()


def _host_root() -> bool:
    """Whether this process is the host's uid 0, which ``RLIMIT_NPROC`` does not bind."""
    if os.geteuid() != 0:
        return False
    try:
        first = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return True
    # "0 0 4294967295" in the initial namespace; a container's root maps elsewhere.
    return len(first) < 2 or first[1] == "0"


async def prepare_launch(
    policy: SandboxPolicy,
    root: Path,
    command: Sequence[str],
    *,
    start_dir: Path | None = None,
    max_processes: int | None = None,
) -> Launch:
    """Everything needed to start ``command`` under ``policy``; see :func:`bwrap_argv`.

    ``max_processes`` (``None``: no limit) bounds the command's processes: a ``pids``
    cgroup for the host's root, ``RLIMIT_NPROC`` inside the sandbox for anyone else.
    Raises :class:`SandboxUnavailable` when bubblewrap, the seccomp filter or the
    process limit cannot be had; the command must then not run.
    """
    exe = await ensure_bwrap()
    fds: list[int] = []
    cgroup: PidsCgroup | None = None
    try:
        seccomp_fd: int | None = None
        if not policy.allows_network:
            seccomp_fd = filter_fd()
            fds.append(seccomp_fd)
        prefix: list[str] = []
        inner = list(command)
        if max_processes is not None:
            if _host_root():
                parent = cgroup_parent()
                if parent is None:
                    raise LimitUnavailable(
                        "no writable cgroup with the pids controller (cgroup v2 with pids "
                        "delegated, or cgroup v1 pids mounted read-write) to bound the "
                        "command's processes as root; mount one, run threadline as an "
                        "unprivileged user, or switch the bound off with "
                        "`[sandbox_limits] max_processes = 0` in config.toml"
                    )
                cgroup = PidsCgroup(parent, max_processes)
                prefix = cgroup.launcher()
            else:
                inner = [*nproc_prefix(max_processes), *command]
        argv = bwrap_argv(
            policy, root, inner, start_dir=start_dir, bwrap=exe, seccomp_fd=seccomp_fd
        )
    except (SeccompUnavailable, LimitUnavailable) as exc:
        for fd in fds:
            os.close(fd)
        if cgroup is not None:
            await cgroup.remove()
        raise SandboxUnavailable(str(exc)) from exc
    return Launch([*prefix, *argv], tuple(fds), cgroup)


_probes: dict[str, str] = {}
"""bubblewrap path → ``""`` when it works here, else why not (probed once per process)."""


async def ensure_bwrap() -> str:
    """Return the bubblewrap path after checking once that it can build a sandbox here.

    The probe runs ``/bin/true`` under the strictest layout (read-only, no network, the
    seccomp filter loaded), so a bubblewrap too old for an option or a kernel without
    seccomp filters shows up here. Raises :class:`SandboxUnavailable` with a readable
    reason otherwise (missing binary, no user namespaces, …). The answer is cached per
    executable for the process.
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
    try:
        fd = filter_fd()
    except SeccompUnavailable as exc:
        return str(exc)
    try:
        argv = bwrap_argv(
            SandboxPolicy(mode="read-only"), Path("/"), ["/bin/true"], bwrap=exe, seccomp_fd=fd
        )
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(fd,),
        )
        _, err = await asyncio.wait_for(proc.communicate(), _PROBE_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    finally:
        os.close(fd)
    if proc.returncode != 0:
        text = err.decode("utf-8", "replace").strip()
        return text or f"exit code {proc.returncode}"
    return ""


def reset_probe() -> None:
    """Forget the cached probe results."""
    _probes.clear()


__all__ = [
    "BWRAP_ENV",
    "Launch",
    "SandboxUnavailable",
    "bwrap_argv",
    "ensure_bwrap",
    "find_bwrap",
    "prepare_launch",
    "reset_probe",
]
