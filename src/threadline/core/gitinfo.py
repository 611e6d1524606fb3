"""The repository state of a thread's working directory, read straight from ``.git``.

Codex records the commit, branch and origin URL in ``session_meta.git`` when a
thread starts. Reading the few files involved is much cheaper than running
``git`` three times, and never blocks on a slow or absent ``git`` binary.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadline.protocol.rollout import GitInfo

_MAX_PARENTS = 64


def git_info(cwd: str | Path) -> GitInfo | None:
    """Commit, branch and ``origin`` URL of the repository containing ``cwd`` (None outside one)."""
    try:
        git_dir = _find_git_dir(Path(cwd))
        if git_dir is None:
            return None
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    branch: str | None = None
    sha: str | None
    if head.startswith("ref:"):
        ref = head[4:].strip()
        if ref.startswith("refs/heads/"):
            branch = ref[len("refs/heads/") :]
        sha = _resolve_ref(git_dir, ref)
    else:
        sha = head or None  # detached HEAD
    from threadline.protocol.rollout import GitInfo  # the rollout models load with a thread

    return GitInfo(commit_hash=sha, branch=branch, repository_url=_origin_url(git_dir))


def _find_git_dir(start: Path) -> Path | None:
    path = start.resolve()
    for _ in range(_MAX_PARENTS):
        candidate = path / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = candidate.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:") :].strip())
                return target if target.is_absolute() else (path / target).resolve()
            return None
        if path.parent == path:
            return None
        path = path.parent
    return None


def _common_dir(git_dir: Path) -> Path:
    """Where refs and config live (differs from ``git_dir`` in a linked worktree)."""
    marker = git_dir / "commondir"
    try:
        target = Path(marker.read_text(encoding="utf-8").strip())
    except OSError:
        return git_dir
    return target if target.is_absolute() else (git_dir / target).resolve()


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    for base in (git_dir, _common_dir(git_dir)):
        try:
            return (base / ref).read_text(encoding="utf-8").strip() or None
        except OSError:
            continue
    try:
        packed = (_common_dir(git_dir) / "packed-refs").read_text(encoding="utf-8")
    except OSError:
        return None  # an unborn branch: no commit yet
    for line in packed.splitlines():
        if line.startswith(("#", "^")):
            continue
        sha, _, name = line.partition(" ")
        if name.strip() == ref:
            return sha
    return None


def _origin_url(git_dir: Path) -> str | None:
    import configparser  # with the first repository read, not at start (~1.5 ms)

    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(_common_dir(git_dir) / "config", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    section = 'remote "origin"'
    if parser.has_section(section):
        return parser.get(section, "url", fallback=None)
    return None
