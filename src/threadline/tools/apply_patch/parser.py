"""The apply_patch text format: a strict parser with Codex's tolerances.

The format (Codex's Lark grammar is shipped next to this module as ``grammar.lark``)::

    *** Begin Patch
    *** Add File: path          followed by one or more "+line" lines
    *** Delete File: path
    *** Update File: path       optionally followed by "*** Move to: path", then chunks:
    @@ [context line]           each chunk opens with "@@" (the first one may omit it)
     context / -removed / +added
    *** End of File             optional, last line of a chunk anchored at the file's end
    *** End Patch

Where this parser is lenient, it is lenient exactly where Codex 0.169 is: the outer
markers and hunk headers may be padded with whitespace, the whole patch may be
wrapped in a ``<<EOF`` / ``<<'EOF'`` / ``<<"EOF"`` heredoc, CRLF line breaks are read
as LF, a chunk line with nothing on it is read as an empty context line, and ``@@`` and
``*** End of File`` may carry trailing whitespace. Everything else is an error naming the patch line.

Line numbers in errors are 1-based and count from the ``*** Begin Patch`` line of the
whitespace-trimmed patch (the heredoc opener, when present, is not counted), as Codex
counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AddFile",
    "DeleteFile",
    "Hunk",
    "PatchError",
    "PatchErrorStage",
    "UpdateChunk",
    "UpdateFile",
    "parse_patch",
    "parse_patch_streaming",
]

BEGIN_PATCH = "*** Begin Patch"
END_PATCH = "*** End Patch"
ADD_FILE = "*** Add File: "
DELETE_FILE = "*** Delete File: "
UPDATE_FILE = "*** Update File: "
MOVE_TO = "*** Move to: "
END_OF_FILE = "*** End of File"
CONTEXT = "@@ "
EMPTY_CONTEXT = "@@"

_EMPTY_CHUNK = "Update hunk does not contain any lines"

PatchErrorStage = Literal["parse", "empty", "plan", "commit"]


class PatchError(ValueError):
    """A patch that cannot be parsed, planned or written.

    ``str(err)`` is the problem in Codex's words, with the file and the patch line
    where known; ``path`` (absolute once resolved, else as written) and ``line``
    (1-based patch line) carry the same facts for a program. ``stage`` tells where it
    failed; :meth:`for_model` is the text Codex gives the model for it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        stage: PatchErrorStage = "parse",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.stage: PatchErrorStage = stage

    def for_model(self) -> str:
        """What Codex 0.169 puts in the tool output for this failure.

        Parse and plan failures are caught by Codex's verification step before anything
        runs (``apply_patch verification failed: ...``); an empty patch is refused by the
        safety check (``patch rejected: empty patch``); a write failure is the applier's
        own message.
        """
        if self.stage == "empty":
            return "patch rejected: empty patch"
        if self.stage in ("parse", "plan"):
            return f"apply_patch verification failed: {self.message}"
        return self.message


@dataclass(frozen=True)
class AddFile:
    """Create ``path`` (or overwrite it) with ``contents`` (LF line ends, final newline)."""

    path: str
    contents: str
    line: int = field(default=0, compare=False)
    """Patch line of the ``*** Add File:`` header (0 when built by hand)."""


@dataclass(frozen=True)
class DeleteFile:
    """Remove the file ``path``."""

    path: str
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class UpdateChunk:
    """Replace ``old_lines`` (found after ``change_context``) with ``new_lines``."""

    change_context: str | None
    old_lines: list[str]
    new_lines: list[str]
    is_end_of_file: bool
    line: int = field(default=0, compare=False)
    """Patch line where the chunk starts (its ``@@`` line, or its first diff line)."""
    kinds: str = field(default="", compare=False)
    """One character per chunk line as written: ``" "`` context, ``"-"``, ``"+"``
    (empty when built by hand: the applier then aligns ``old_lines`` and ``new_lines``)."""


@dataclass(frozen=True)
class UpdateFile:
    """Edit ``path`` chunk by chunk, then optionally move the result to ``move_path``."""

    path: str
    move_path: str | None
    chunks: list[UpdateChunk]
    line: int = field(default=0, compare=False)


Hunk = AddFile | DeleteFile | UpdateFile


def _split_lines(text: str) -> list[str]:
    # Rust's str::trim + str::lines: no empty last line, one "\r" before each "\n" dropped.
    body = text.strip()
    if not body:
        return []
    return [ln[:-1] if ln.endswith("\r") else ln for ln in body.split("\n")]


def _check_boundaries(lines: list[str]) -> None:
    first = lines[0].strip() if lines else None
    last = lines[-1].strip() if lines else None
    if first == BEGIN_PATCH and last == END_PATCH and len(lines) >= 2:
        return
    if first != BEGIN_PATCH:
        raise PatchError("invalid patch: The first line of the patch must be '*** Begin Patch'")
    raise PatchError("invalid patch: The last line of the patch must be '*** End Patch'")


def _body_lenient(lines: list[str]) -> list[str]:
    """The lines between the markers; a heredoc wrapper (``<<EOF`` ... ``EOF``) is removed."""
    try:
        _check_boundaries(lines)
        return lines[1:-1]
    except PatchError as original:
        if (
            len(lines) >= 4
            and lines[0] in ("<<EOF", "<<'EOF'", '<<"EOF"')
            and lines[-1].endswith("EOF")
        ):
            inner = lines[1:-1]
            _check_boundaries(inner)
            return inner[1:-1]
        raise original from None


def parse_patch(text: str) -> list[Hunk]:
    """Parse a whole patch; raise :class:`PatchError` naming the first problem.

    A patch with no hunks parses (to ``[]``) as in Codex; applying it is refused by
    :func:`~threadline.tools.apply_patch.apply.plan_patch`.
    """
    body = _body_lenient(_split_lines(text))
    return _parse_hunks(body, streaming=False)


def parse_patch_streaming(text: str) -> list[Hunk]:
    """Parse a patch that is still arriving (for progress reports only, never to apply).

    The begin marker is required, the end marker is not; a hunk cut off mid-way is
    dropped when at least one earlier hunk parsed (so the count never goes down while
    the text grows).
    """
    lines = _split_lines(text)
    if lines and lines[0].strip() == BEGIN_PATCH:
        body = lines[1:-1] if lines[-1].strip() == END_PATCH and len(lines) > 1 else lines[1:]
    else:
        _check_boundaries(lines)
        body = lines[1:-1]
    return _parse_hunks(body, streaming=True)


def _parse_hunks(body: list[str], *, streaming: bool) -> list[Hunk]:
    hunks: list[Hunk] = []
    pos = 0
    line_number = 2
    while pos < len(body):
        try:
            hunk, used = _parse_one_hunk(body, pos, line_number, streaming)
        except PatchError:
            if streaming and hunks:
                break
            raise
        hunks.append(hunk)
        pos += used
        line_number += used
    return hunks


def _parse_one_hunk(
    lines: list[str], start: int, line_number: int, streaming: bool
) -> tuple[Hunk, int]:
    first = lines[start].strip()
    if first.startswith(ADD_FILE):
        path = first[len(ADD_FILE) :]
        contents: list[str] = []
        used = 1
        for add_line in lines[start + 1 :]:
            if not add_line.startswith("+"):
                break
            contents.append(add_line[1:] + "\n")
            used += 1
        return AddFile(path, "".join(contents), line=line_number), used
    if first.startswith(DELETE_FILE):
        return DeleteFile(first[len(DELETE_FILE) :], line=line_number), 1
    if first.startswith(UPDATE_FILE):
        return _parse_update(lines, start, line_number, first[len(UPDATE_FILE) :], streaming)
    raise PatchError(
        f"invalid hunk at line {line_number}, '{first}' is not a valid hunk header. "
        "Valid hunk headers: '*** Add File: {path}', '*** Delete File: {path}', "
        "'*** Update File: {path}'",
        path=None,
        line=line_number,
    )


def _parse_update(
    lines: list[str], start: int, line_number: int, path: str, streaming: bool
) -> tuple[UpdateFile, int]:
    pos = start + 1
    used = 1
    move_path: str | None = None
    if pos < len(lines) and lines[pos].startswith(MOVE_TO):
        move_path = lines[pos][len(MOVE_TO) :]
        pos += 1
        used += 1
    chunks: list[UpdateChunk] = []
    while pos < len(lines):
        current = lines[pos]
        if current.rstrip() == END_OF_FILE:
            # A marker with no chunk before it: Codex 0.169 passes over it.
            pos += 1
            used += 1
            continue
        if current.startswith("*"):
            break
        if streaming and current == "@":
            break
        try:
            chunk, chunk_used = _parse_chunk(lines, pos, line_number + used, not chunks, path)
        except PatchError as err:
            if streaming and chunks and err.message.endswith(_EMPTY_CHUNK):
                break
            raise
        chunks.append(chunk)
        pos += chunk_used
        used += chunk_used
    if not chunks:
        raise PatchError(
            f"invalid hunk at line {line_number}, Update file hunk for path '{path}' is empty",
            path=path,
            line=line_number,
        )
    return UpdateFile(path, move_path, chunks, line=line_number), used


def _hunk_error(message: str, line: int, path: str) -> PatchError:
    return PatchError(f"invalid hunk at line {line}, {message}", path=path, line=line)


def _parse_chunk(
    lines: list[str], start: int, line_number: int, allow_missing_context: bool, path: str
) -> tuple[UpdateChunk, int]:
    head = lines[start]
    context: str | None
    if head.rstrip() == EMPTY_CONTEXT:
        context, skip = None, 1
    elif head.startswith(CONTEXT):
        context, skip = head[len(CONTEXT) :], 1
    elif allow_missing_context:
        context, skip = None, 0
    else:
        raise _hunk_error(
            f"Expected update hunk to start with a @@ context marker, got: '{head}'",
            line_number,
            path,
        )
    if start + skip >= len(lines):
        raise _hunk_error(_EMPTY_CHUNK, line_number + 1, path)
    old: list[str] = []
    new: list[str] = []
    kinds: list[str] = []
    is_eof = False
    parsed = 0
    for text in lines[start + skip :]:
        if text.rstrip() == END_OF_FILE:
            if parsed == 0:
                raise _hunk_error(_EMPTY_CHUNK, line_number + 1, path)
            is_eof = True
            parsed += 1
            break
        marker = text[:1]
        if marker == "":
            old.append("")
            new.append("")
            kinds.append(" ")
        elif marker == " ":
            old.append(text[1:])
            new.append(text[1:])
            kinds.append(" ")
        elif marker == "+":
            new.append(text[1:])
            kinds.append("+")
        elif marker == "-":
            old.append(text[1:])
            kinds.append("-")
        else:
            if parsed == 0:
                raise _hunk_error(
                    f"Unexpected line found in update hunk: '{text}'. Every line should start "
                    "with ' ' (context line), '+' (added line), or '-' (removed line)",
                    line_number + 1,
                    path,
                )
            break
        parsed += 1
    chunk = UpdateChunk(context, old, new, is_eof, line=line_number, kinds="".join(kinds))
    return chunk, parsed + skip
