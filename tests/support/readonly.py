"""Read-only directories that hold even for root, and a server that permission bits stop.

Root ignores permission bits, so :func:`read_only_dir` makes a directory read-only
with a read-only bind mount of itself when running as root (as CI does), and with
``chmod`` otherwise. :data:`NO_DAC_OVERRIDE` is a command prefix that runs a
process as root *without* the capabilities that bypass permission bits, so a
root-owned home with mode 0555 is as read-only for it as for any ordinary user.
(The unprivileged ``tluser`` cannot be used for that here: the interpreter lives
under ``/root``, which only root may enter.)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["NO_DAC_OVERRIDE", "read_only_dir", "read_only_tree", "tree_snapshot"]

NO_DAC_OVERRIDE: tuple[str, ...] = (
    ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--inh-caps=-all", "--")
    if os.geteuid() == 0
    else ()
)
"""Prefix for a command that must obey permission bits even when started by root."""


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """``path`` is read-only inside the block: a read-only bind mount as root, else chmod."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode & 0o7777
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    _run("mount", "--bind", str(path), str(path))
    try:
        _run("mount", "-o", "remount,bind,ro", str(path))
        yield path
    finally:
        # A file still open through the mount (e.g. SQLite's -shm map) makes it busy;
        # detach it lazily then: nothing is written through a read-only mount anyway.
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            _run("umount", "--lazy", str(path))


def read_only_tree(root: Path) -> None:
    """Directories 0555 and files 0444 under ``root`` (read-only by permission bits)."""
    for path in sorted(root.rglob("*"), reverse=True):
        if not path.is_symlink():
            path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)


def tree_snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under ``root`` with its size, mtime and content (to prove nothing changed)."""
    out: dict[str, tuple[int, int, bytes]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            out[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns, path.read_bytes())
    return out
