"""One file's planned change: what :func:`~threadline.tools.apply_patch.apply.plan_patch`
produces and the diff code reads (kept apart so that neither imports the other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ChangeKind = Literal["add", "delete", "update"]


@dataclass(frozen=True)
class FileChange:
    """One hunk's effect on one file, computed but not yet written."""

    path: Path
    """Absolute and normalised (parent resolved through symlinks)."""
    kind: ChangeKind
    move_path: Path | None
    old_contents: bytes | None
    """The bytes before this hunk; ``None`` for an Add of a file that did not exist."""
    new_contents: bytes | None
    """The bytes after this hunk (at ``move_path`` for a move); ``None`` for a Delete."""
    unified_diff: str
    """``fileChange.changes[].diff`` as Codex sends it (see :func:`diff.file_diff`)."""
    display_path: str = ""
    """The path as the patch wrote it (the move target for a move): Codex's summary form."""
    move_old_contents: bytes | None = None
    """For a move onto an existing file: the bytes it overwrote."""
    line: int = field(default=0, compare=False)
    """Patch line of the hunk's header."""


__all__ = ["ChangeKind", "FileChange"]
