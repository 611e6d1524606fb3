"""How many processes a sandboxed command may run, and taking its whole tree down.

Two mechanisms, picked by who runs threadline:

* **uid 0** — ``RLIMIT_NPROC`` never binds the host's root user (the kernel exempts
  it even without capabilities), so the command goes into a fresh cgroup of the
  ``pids`` controller whose ``pids.max`` is the limit: cgroup v2 when ``pids`` is
  enabled on the unified hierarchy (the cgroup threadline runs in must be able to
  delegate it to a child), else cgroup v1's ``pids`` hierarchy. The cgroup is made
  before the command starts: a ``/bin/sh`` in front of bubblewrap writes its own pid
  to ``cgroup.procs`` and then executes bubblewrap, so every process the command ever
  forks is counted. After the command ends every process left in the cgroup is
  killed and the cgroup removed. No writable ``pids`` cgroup → the command does not
  run (:class:`LimitUnavailable`), unless the limit is switched off.
* **any other uid** — a ``/bin/sh`` *inside* the sandbox sets ``RLIMIT_NPROC`` (soft
  and hard) before it executes the command. Inside the sandbox's own user namespace
  the kernel (5.14 and later) counts the processes of that namespace, so the limit is
  the command's own; on older kernels it counts all processes of the user.

The run time of the whole tree is bounded by the PID namespace: the command runs
under bubblewrap's init, which dies with the bubblewrap process threadline started
(``--die-with-parent``), and the kernel kills every process of a PID namespace when
its init dies — including processes that called ``setsid()`` or forked twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from pathlib import Path

from threadline.protocol.records import record
from threadline.sandbox import DEFAULT_MAX_PROCESSES

CGROUP_ROOT = Path("/sys/fs/cgroup")
_REMOVE_TRIES = 100
_REMOVE_PAUSE_S = 0.02


class LimitUnavailable(Exception):
    """The process limit cannot be enforced here; the command must not run."""


@record
class CgroupParent:
    """Where per-command ``pids`` cgroups are created."""

    path: Path
    version: int


def _own_cgroups(text: str) -> dict[str, str]:
    """``/proc/self/cgroup`` → controller (``""`` for v2) → path."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            found[""] = path
        for name in controllers.split(","):
            if name:
                found[name] = path
    return found


def _mounts(text: str) -> list[tuple[Path, str, str, str]]:
    """``/proc/self/mountinfo`` → (mount point, root inside the fs, fs type, super options)."""
    mounts: list[tuple[Path, str, str, str]] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        tail = right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        point = fields[4].replace("\\040", " ")
        mounts.append((Path(point), fields[3], tail[0], tail[2]))
    return mounts


def find_cgroup_parent(mountinfo: str, self_cgroup: str) -> CgroupParent | None:
    """The cgroup directory (v2 preferred, then v1) under which a ``pids`` child can be made."""
    own = _own_cgroups(self_cgroup)
    mounts = _mounts(mountinfo)
    for point, root, fstype, _ in mounts:
        if fstype != "cgroup2" or "" not in own:
            continue
        parent = _below(point, root, own[""])
        if parent is not None and _v2_delegates_pids(parent):
            return CgroupParent(parent, 2)
    for point, root, fstype, options in mounts:
        if fstype != "cgroup" or "pids" not in options.split(",") or "pids" not in own:
            continue
        parent = _below(point, root, own["pids"])
        if parent is not None and os.access(parent, os.W_OK):
            return CgroupParent(parent, 1)
    return None


def _below(point: Path, root: str, path: str) -> Path | None:
    """The directory of cgroup ``path`` under a mount whose fs root is ``root``."""
    rel = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
    if rel.startswith(".."):
        return None
    where = point / rel if rel not in ("", ".") else point
    return where if where.is_dir() else None


def _v2_delegates_pids(parent: Path) -> bool:
    try:
        if "pids" not in (parent / "cgroup.controllers").read_text().split():
            return False
        control = parent / "cgroup.subtree_control"
        if "pids" in control.read_text().split():
            return os.access(parent, os.W_OK)
        control.write_text("+pids")  # fails (EBUSY) when the no-internal-process rule bites
    except OSError:
        return False
    return True


_parent: list[CgroupParent | None] = []


def cgroup_parent() -> CgroupParent | None:
    """:func:`find_cgroup_parent` for this process (looked up once)."""
    if not _parent:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
            self_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            _parent.append(None)
        else:
            _parent.append(find_cgroup_parent(mountinfo, self_cgroup))
    return _parent[0]


class PidsCgroup:
    """One command's ``pids`` cgroup: made before it starts, emptied and removed after."""

    def __init__(self, parent: CgroupParent, max_processes: int) -> None:
        self.parent = parent
        self.path = parent.path / f"threadline-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            self.path.mkdir()
        except OSError as exc:
            raise LimitUnavailable(f"cannot create the pids cgroup {self.path}: {exc}") from exc
        try:
            (self.path / "pids.max").write_text(str(max_processes))
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.rmdir()
            raise LimitUnavailable(f"cannot set {self.path}/pids.max: {exc}") from exc

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def launcher(self) -> list[str]:
        """The argv prefix that joins the cgroup, then executes the rest of the argv."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.procs)]

    def kill_all(self) -> None:
        kill = self.path / "cgroup.kill"
        if self.parent.version == 2 and kill.exists():
            with contextlib.suppress(OSError):
                kill.write_text("1")
                return
        try:
            pids = self.procs.read_text().split()
        except OSError:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.kill(int(pid), signal.SIGKILL)

    async def remove(self) -> None:
        """Kill what is left and remove the cgroup (retrying while processes exit)."""
        for _ in range(_REMOVE_TRIES):
            self.kill_all()
            try:
                self.path.rmdir()
            except FileNotFoundError:
                return
            except OSError:
                await asyncio.sleep(_REMOVE_PAUSE_S)
            else:
                return


def nproc_prefix(max_processes: int) -> list[str]:
    """The argv prefix (run inside the sandbox) that sets ``RLIMIT_NPROC`` then executes.

    ``ulimit -u`` is bash's and busybox's spelling, ``-p`` dash's; a shell with
    neither makes the command fail with a message instead of running without a limit.
    """
    script = (
        f"ulimit -u {max_processes} 2>/dev/null || ulimit -p {max_processes} 2>/dev/null "
        "|| { echo 'threadline: cannot set the process limit (RLIMIT_NPROC)' >&2; exit 126; }; "
        'exec "$@"'
    )
    return ["/bin/sh", "-c", script, "sh"]


def resolve_max_processes(value: int | None) -> int | None:
    """Check a configured limit: ``None`` or ``0`` switch it off, negatives are errors."""
    if value is None or value == 0:
        return None
    if value < 0:
        raise ValueError(f"max_processes must be positive (or 0 for no limit), not {value}")
    return value


__all__ = [
    "DEFAULT_MAX_PROCESSES",
    "CgroupParent",
    "LimitUnavailable",
    "PidsCgroup",
    "cgroup_parent",
    "find_cgroup_parent",
    "nproc_prefix",
    "resolve_max_processes",
]
