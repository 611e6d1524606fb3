"""Plan a parsed patch against the filesystem, then write it all or nothing.

:func:`plan_patch` reads every file the patch touches and computes each new content in
memory (nothing is written); the hunks see each other's effects in order, as Codex's
applier does (an Add followed by an Update of the same file works). One deliberate
difference: an Update whose ``*** Move to:`` names its own path updates the file in
place, where Codex 0.169 writes it and then removes it (losing the file). :func:`commit_changes`
writes the plan.

**Stricter than Codex.** Codex 0.169 applies hunk after hunk and stops at the first
failure, leaving earlier files changed (its own scenario
``015_failure_after_partial_success_leaves_changes``). Here a patch either applies
completely or not at all: every failure Codex could meet half-way (missing file, missing
context, deleting a directory) is found while planning, before any write; and if a write
itself fails (disk full, permission, a sandbox refusal), every file already written is
put back byte for byte (and directories created for it removed) before the error is
raised. :func:`commit_changes` also refuses a plan whose files changed on disk since it
was made (say, while an approval was pending).

Matching follows Codex's ``seek_sequence``: exact lines, then ignoring trailing
whitespace, then ignoring surrounding whitespace, then with typographic dashes, quotes
and spaces folded to ASCII. A chunk with no old lines appends at the end of the file.
An updated file always ends with a line ending (a file left with no line is empty).
Lines a chunk keeps as context stay exactly as the file has them (whitespace and line
ending, even where the match was fuzzy); added lines take the line ending of the file's
first line, so CRLF files stay CRLF. (Behaviour checked against the real Codex 0.169
binary with a differential fuzzer; only the move-onto-itself case differs.)

**Paths.** A relative path is joined to ``cwd``; ``..`` segments are folded and the
parent directory is resolved through symlinks, so ``FileChange.path`` names the real
directory the write lands in. A final component that is a symlink is followed for
Add and Update (Codex's ``std::fs::write`` writes through it, so we report the target
the bytes really go to) and not for Delete (Codex's ``remove_file`` removes the link).
Whether the path is allowed (writable roots) is the caller's decision.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import tempfile
from pathlib import Path

from threadline.tools.apply_patch.change import FileChange
from threadline.tools.apply_patch.diff import file_diff
from threadline.tools.apply_patch.parser import (
    AddFile,
    DeleteFile,
    Hunk,
    PatchError,
    UpdateChunk,
    UpdateFile,
    parse_patch,
)
from threadline.tools.apply_patch.seek import seek_sequence

__all__ = [
    "FileChange",
    "apply_patch_text",
    "commit_changes",
    "plan_patch",
    "resolve_path",
    "success_text",
]



def resolve_path(raw: str, cwd: Path, *, follow_final_symlink: bool = True) -> Path:
    """``raw`` (relative to ``cwd`` or absolute) as an absolute, normalised path."""
    joined = os.path.normpath(os.path.join(os.path.abspath(cwd), raw))
    parent, name = os.path.split(joined)
    resolved = Path(os.path.realpath(parent)) / name if name else Path(os.path.realpath(joined))
    if follow_final_symlink and resolved.is_symlink():
        return Path(os.path.realpath(resolved))
    return resolved


def _os_error(prefix: str, err: OSError) -> str:
    code = err.errno if err.errno is not None else 0
    return f"{prefix}: {os.strerror(code)} (os error {code})"


class _Overlay:
    """The filesystem as the hunks so far left it (reads fall through to disk once)."""

    def __init__(self) -> None:
        self.state: dict[Path, bytes | None] = {}
        self.baseline: dict[Path, bytes | None] = {}

    def read(self, path: Path, context: str, line: int) -> bytes:
        if path in self.state:
            data = self.state[path]
            if data is None:
                err = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
                raise self._error(context, path, err, line)
            return data
        try:
            data = path.read_bytes()
        except OSError as err:
            raise self._error(context, path, err, line) from None
        self.baseline[path] = data
        self.state[path] = data
        return data

    @staticmethod
    def _error(context: str, path: Path, err: OSError, line: int) -> PatchError:
        message = _os_error(f"{context} {path}", err) + f" (patch line {line})"
        return PatchError(message, path=str(path), line=line, stage="plan")

    def peek(self, path: Path) -> bytes | None:
        """Current bytes of ``path`` if it is a regular file, else ``None``."""
        if path not in self.state:
            try:
                data: bytes | None = path.read_bytes() if path.is_file() else None
            except OSError:
                data = None
            self.baseline[path] = data
            self.state[path] = data
        return self.state[path]

    def write(self, path: Path, data: bytes | None) -> None:
        if path not in self.baseline:
            self.peek(path)
        self.state[path] = data


def _decode(data: bytes, path: Path, line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PatchError(
            f"Failed to read file to update {path}: stream did not contain valid UTF-8",
            path=str(path),
            line=line,
            stage="plan",
        ) from None


Replacement = tuple[int, int, list[str]]
"""(first line, number of lines removed there, lines inserted there)."""


def _chunk_edits(
    chunk: UpdateChunk, found: int, old: list[str], new: list[str]
) -> list[Replacement]:
    """The line-level edits of a chunk matched at ``found`` (context lines are not edits).

    ``old``/``new`` are the chunk's lines as matched (a trailing empty line may have been
    dropped from each). The edits follow the chunk's own ``-``/``+`` lines; a chunk built
    by hand (no ``kinds``) is aligned with :class:`difflib.SequenceMatcher`.
    """
    entries: list[tuple[str, str | None, str | None]] = []
    if len(chunk.kinds) == len(chunk.old_lines) + chunk.kinds.count("+") and len(
        chunk.new_lines
    ) == len(chunk.kinds) - chunk.kinds.count("-"):
        oi = ni = 0
        for kind in chunk.kinds:
            o = chunk.old_lines[oi] if kind in " -" else None
            n = chunk.new_lines[ni] if kind in " +" else None
            oi += kind in " -"
            ni += kind in " +"
            entries.append((kind, o, n))
        for side, kept in ((1, len(old)), (2, len(new))):
            extra = sum(e[side] is not None for e in entries) - kept
            for k in range(len(entries) - 1, -1, -1):
                if extra <= 0:
                    break
                if entries[k][side] is not None:
                    kind, o, n = entries[k]
                    entries[k] = (kind, None, n) if side == 1 else (kind, o, None)
                    extra -= 1
    else:
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                entries.extend((" ", line, line) for line in old[i1:i2])
            else:
                entries.extend(("-", line, None) for line in old[i1:i2])
                entries.extend(("+", None, line) for line in new[j1:j2])
    edits: list[Replacement] = []
    at = found
    pending: Replacement | None = None
    for kind, o, n in entries:
        if kind == " " and o is not None and n is not None:
            if pending is not None:
                edits.append(pending)
                pending = None
            at += 1
            continue
        if pending is None:
            pending = (at, 0, [])
        if o is not None:
            pending = (pending[0], pending[1] + 1, pending[2])
            at += 1
        if n is not None:
            pending[2].append(n)
    if pending is not None:
        edits.append(pending)
    return [e for e in edits if e[1] or e[2]]


def _replacements(lines: list[str], path: Path, chunks: list[UpdateChunk]) -> list[Replacement]:
    out: list[Replacement] = []
    index = 0
    for chunk in chunks:
        if chunk.change_context is not None:
            found = seek_sequence(lines, [chunk.change_context], index, eof=False)
            if found is None:
                raise PatchError(
                    f"Failed to find context '{chunk.change_context}' in {path} "
                    f"(patch line {chunk.line})",
                    path=str(path),
                    line=chunk.line,
                    stage="plan",
                )
            index = found + 1
        if not chunk.old_lines:
            out.append((len(lines), 0, list(chunk.new_lines)))
            continue
        pattern, new = chunk.old_lines, chunk.new_lines
        found = seek_sequence(lines, pattern, index, eof=chunk.is_end_of_file)
        if found is None and pattern[-1] == "":
            pattern = pattern[:-1]
            if new and new[-1] == "":
                new = new[:-1]
            found = seek_sequence(lines, pattern, index, eof=chunk.is_end_of_file)
        if found is None:
            expected = "\n".join(chunk.old_lines)
            raise PatchError(
                f"Failed to find expected lines in {path} (patch line {chunk.line}):\n{expected}",
                path=str(path),
                line=chunk.line,
                stage="plan",
            )
        out.extend(_chunk_edits(chunk, found, list(pattern), list(new)))
        index = found + len(pattern)
    out.sort(key=lambda r: r[0])
    return out


Line = tuple[str, str]
"""A line's text and its ending: ``"\\n"``, ``"\\r\\n"`` or ``""`` (last line, none)."""


def _split_ends(text: str) -> list[Line]:
    parts = text.split("\n")
    lines: list[Line] = [(p[:-1], "\r\n") if p.endswith("\r") else (p, "\n") for p in parts[:-1]]
    if parts[-1]:
        lines.append((parts[-1], ""))
    return lines


def updated_contents(original: str, path: Path, chunks: list[UpdateChunk]) -> str:
    """The text after applying ``chunks`` to ``original`` (raises :class:`PatchError`).

    Lines the chunk keeps as context stay as the file has them (its whitespace and line
    ending, even where the match was fuzzy); added lines take the line ending of the
    file's first line, and so does a last line that had none.
    """
    lines = _split_ends(original)
    eol = lines[0][1] if lines and lines[0][1] else "\n"
    texts = [text for text, _ in lines]
    for start, old_len, new in reversed(_replacements(texts, path, chunks)):
        lines[start : start + old_len] = [(text, eol) for text in new]
    return "".join(text + (end or eol) for text, end in lines)


def plan_patch(hunks: list[Hunk], cwd: Path) -> list[FileChange]:
    """Every hunk's :class:`FileChange`, computed in memory; nothing is written."""
    if not hunks:
        raise PatchError("No files were modified.", stage="empty")
    overlay = _Overlay()
    changes: list[FileChange] = []
    for hunk in hunks:
        if isinstance(hunk, AddFile):
            path = resolve_path(hunk.path, cwd)
            new = hunk.contents.encode("utf-8")
            old = overlay.peek(path)
            overlay.write(path, new)
            change = FileChange(path, "add", None, old, new, "", hunk.path, line=hunk.line)
        elif isinstance(hunk, DeleteFile):
            path = resolve_path(hunk.path, cwd, follow_final_symlink=False)
            old = overlay.read(path, "Failed to read", hunk.line)
            overlay.write(path, None)
            change = FileChange(path, "delete", None, old, None, "", hunk.path, line=hunk.line)
        else:
            change = _plan_update(hunk, cwd, overlay)
        changes.append(_with_diff(change, file_diff(change)))
    return changes


def _with_diff(change: FileChange, diff: str) -> FileChange:
    return FileChange(
        change.path,
        change.kind,
        change.move_path,
        change.old_contents,
        change.new_contents,
        diff,
        change.display_path,
        change.move_old_contents,
        line=change.line,
    )


def _plan_update(hunk: UpdateFile, cwd: Path, overlay: _Overlay) -> FileChange:
    path = resolve_path(hunk.path, cwd)
    old = overlay.read(path, "Failed to read file to update", hunk.line)
    text = updated_contents(_decode(old, path, hunk.line), path, hunk.chunks)
    new = text.encode("utf-8")
    if hunk.move_path is None:
        overlay.write(path, new)
        return FileChange(path, "update", None, old, new, "", hunk.path, line=hunk.line)
    dest = resolve_path(hunk.move_path, cwd)
    overwritten = overlay.peek(dest) if dest != path else None
    overlay.write(path, None)
    overlay.write(dest, new)
    return FileChange(path, "update", dest, old, new, "", hunk.move_path, overwritten, hunk.line)


def success_text(changes: list[FileChange], cwd: Path) -> str:
    """Codex's summary for the model: ``A``dded, then ``M``odified, then ``D``eleted paths.

    Each path is shown as the patch wrote it (a moved file under its new name), which is
    what Codex prints; a change built without ``display_path`` is shown relative to
    ``cwd`` when inside it, else absolute.
    """
    root = Path(os.path.abspath(cwd))

    def shown(change: FileChange) -> str:
        if change.display_path:
            return change.display_path
        target = change.move_path or change.path
        try:
            return target.relative_to(root).as_posix()
        except ValueError:
            return str(target)

    lines = ["Success. Updated the following files:"]
    for letter, kind in (("A", "add"), ("M", "update"), ("D", "delete")):
        lines.extend(f"{letter} {shown(c)}" for c in changes if c.kind == kind)
    return "\n".join(lines) + "\n" if lines else ""


# ---- writing -------------------------------------------------------------------


def _final_states(
    changes: list[FileChange],
) -> tuple[dict[Path, bytes | None], dict[Path, bytes | None]]:
    """(what each path held before the plan, what it must hold after), in first-touch order."""
    before: dict[Path, bytes | None] = {}
    after: dict[Path, bytes | None] = {}
    for c in changes:
        before.setdefault(c.path, c.old_contents)
        if c.move_path is not None:
            before.setdefault(c.move_path, c.move_old_contents)
            after[c.path] = None
            after[c.move_path] = c.new_contents
        else:
            after[c.path] = c.new_contents
    return before, after


def _on_disk(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _atomic_write(path: Path, data: bytes, mode: int | None) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    When the directory refuses new entries but the file itself exists (a writable file
    in a read-only directory), the file is rewritten in place instead, as Codex's
    ``std::fs::write`` would; the rollback restores it the same way.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tl-patch", dir=path.parent)
    except (PermissionError, OSError) as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not path.is_file():
            raise
        with open(path, "wb") as fh:
            fh.write(data)
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _make_parents(path: Path, created: list[Path]) -> None:
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        directory.mkdir()
        created.append(directory)


def commit_changes(changes: list[FileChange]) -> None:
    """Write a plan from :func:`plan_patch`: all of it, or (on any failure) none of it.

    Raises :class:`PatchError` (``stage="commit"``) after restoring every file it touched
    byte for byte and removing the directories it created.
    """
    before, after = _final_states(changes)
    for path, expected in before.items():
        try:
            current = _on_disk(path)
        except OSError as err:
            raise PatchError(
                _os_error(f"Failed to read {path}", err), path=str(path), stage="commit"
            ) from None
        if current != expected:
            raise PatchError(
                f"{path} changed on disk after the patch was checked; nothing was written",
                path=str(path),
                stage="commit",
            )
    modes: dict[Path, int] = {}
    for path in after:
        with contextlib.suppress(OSError):
            modes[path] = os.stat(path).st_mode & 0o7777
    written: list[Path] = []
    created: list[Path] = []
    current_path: Path | None = None
    try:
        for path, data in after.items():
            current_path = path
            if data is None:
                if before.get(path) is not None:
                    os.unlink(path)
                    written.append(path)
                continue
            _make_parents(path, created)
            written.append(path)
            _atomic_write(path, data, modes.get(path))
    except OSError as err:
        _rollback(written, created, before, modes)
        action = "write file" if after.get(current_path or Path()) is not None else "delete file"
        raise PatchError(
            _os_error(f"Failed to {action} {current_path}", err),
            path=str(current_path),
            stage="commit",
        ) from None


def _rollback(
    written: list[Path],
    created: list[Path],
    before: dict[Path, bytes | None],
    modes: dict[Path, int],
) -> None:
    for path in reversed(written):
        original = before.get(path)
        with contextlib.suppress(OSError):
            if original is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            elif _on_disk(path) != original:
                _atomic_write(path, original, modes.get(path))
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()


def apply_patch_text(text: str, cwd: Path) -> list[FileChange]:
    """Parse, plan and commit ``text`` in ``cwd``; the committed changes."""
    changes = plan_patch(parse_patch(text), cwd)
    commit_changes(changes)
    return changes
