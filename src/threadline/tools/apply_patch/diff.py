"""Unified diffs as Codex renders them: one file's change and a whole turn's git diff.

Codex renders with the ``similar`` crate (Myers line diff). We match lines with an
anchored diff (common head and tail, then lines unique on both sides, then
:class:`difflib.SequenceMatcher` on what is left: see :func:`_blocks`) and reproduce
``similar``'s text layout: hunk headers ``@@ -a,b +c,d @@`` (a count of 1 is left out, an empty range
starts one line earlier), ``\\ No newline at end of file`` after a last line without
one, hunks merged when their context overlaps. For ordinary edits the two algorithms
pick the same lines; for ambiguous ones (repeated lines) they may pair them differently,
which changes the hunk layout but never the result the diff describes.

* :func:`file_diff` is the ``diff`` of a ``fileChange`` item's ``changes[]``: the new
  text for an add, the old text for a delete, a headerless diff with one line of
  context for an update (plus ``\\n\\nMoved to: <dest>`` for a move).
* :class:`TurnDiffTracker` / :func:`unified_diff_for_turn` give ``turn/diff/updated``'s
  diff: ``diff --git a/x b/x``, ``new file mode 100644`` / ``deleted file mode 100644``,
  ``index <old blob>..<new blob>`` (git blob SHA-1s, zeros for a missing side),
  ``--- a/x`` / ``+++ b/x`` (``/dev/null`` for a missing side), three lines of context,
  files sorted by displayed path, paths relative to the turn's cwd.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadline.tools.apply_patch.change import FileChange

__all__ = ["TurnDiffTracker", "file_diff", "text_diff", "unified_diff_for_turn"]

ZERO_OID = "0" * 40
DEV_NULL = "/dev/null"
NO_NEWLINE = "\\ No newline at end of file\n"


def _text(data: bytes | None) -> str:
    return "" if data is None else data.decode("utf-8", "replace")


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _emit(out: list[str], sign: str, line: str) -> None:
    out.append(sign + line)
    if not line.endswith("\n"):
        out.append("\n" + NO_NEWLINE)


def _lines(text: str) -> list[str]:
    """``text`` split after each ``\\n`` only (as ``similar``'s ``from_lines``; no ``\\f``...)."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


Block = tuple[int, int, int]
Opcode = tuple[str, int, int, int, int]


def _blocks(a: list[str], alo: int, ahi: int, b: list[str], blo: int, bhi: int) -> list[Block]:
    """Matching line runs ``(i, j, n)`` of ``a[alo:ahi]`` and ``b[blo:bhi]``, in order.

    Common head and tail lines match first; in between, lines that occur exactly once on
    each side anchor the match (their longest increasing run, as patience diff does) and
    each gap between anchors is matched the same way; a gap without anchors goes to
    :class:`difflib.SequenceMatcher`. Linear-ish for the usual few edits in a big file,
    where a plain SequenceMatcher is quadratic.
    """
    head: list[Block] = []
    tail: list[Block] = []
    start = alo
    while alo < ahi and blo < bhi and a[alo] == b[blo]:
        alo += 1
        blo += 1
    if alo > start:
        head.append((start, blo - (alo - start), alo - start))
    end = ahi
    while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
        ahi -= 1
        bhi -= 1
    if ahi < end:
        tail.append((ahi, bhi, end - ahi))
    if alo == ahi or blo == bhi:
        return head + tail
    count_a: dict[str, int] = {}
    for line in a[alo:ahi]:
        count_a[line] = count_a.get(line, 0) + 1
    where_b: dict[str, int] = {}
    count_b: dict[str, int] = {}
    for j in range(blo, bhi):
        line = b[j]
        count_b[line] = count_b.get(line, 0) + 1
        where_b[line] = j
    pairs = [
        (i, where_b[a[i]]) for i in range(alo, ahi) if count_a[a[i]] == 1 and count_b.get(a[i]) == 1
    ]
    middle: list[Block] = []
    if not pairs:
        matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
        middle = [(alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks() if n]
        return head + middle + tail
    i_prev, j_prev = alo, blo
    for i, j in _increasing_run(pairs):
        if i > i_prev or j > j_prev:
            middle.extend(_blocks(a, i_prev, i, b, j_prev, j))
        if middle and middle[-1][0] + middle[-1][2] == i and middle[-1][1] + middle[-1][2] == j:
            start_i, start_j, size = middle[-1]
            middle[-1] = (start_i, start_j, size + 1)
        else:
            middle.append((i, j, 1))
        i_prev, j_prev = i + 1, j + 1
    middle.extend(_blocks(a, i_prev, ahi, b, j_prev, bhi))
    return head + middle + tail


def _increasing_run(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of ``pairs`` (sorted by the first item) increasing in the second."""
    tops: list[int] = []
    top_index: list[int] = []
    back: list[int] = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect.bisect_left(tops, j)
        if pos == len(tops):
            tops.append(j)
            top_index.append(k)
        else:
            tops[pos] = j
            top_index[pos] = k
        back[k] = top_index[pos - 1] if pos else -1
    run: list[tuple[int, int]] = []
    k = top_index[-1]
    while k >= 0:
        run.append(pairs[k])
        k = back[k]
    return run[::-1]


def _opcodes(a: list[str], b: list[str]) -> list[Opcode]:
    codes: list[Opcode] = []
    i = j = 0
    merged: list[Block] = []
    for bi, bj, n in _blocks(a, 0, len(a), b, 0, len(b)):
        if merged and merged[-1][0] + merged[-1][2] == bi and merged[-1][1] + merged[-1][2] == bj:
            merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + n)
        else:
            merged.append((bi, bj, n))
    for bi, bj, n in [*merged, (len(a), len(b), 0)]:
        if i < bi and j < bj:
            codes.append(("replace", i, bi, j, bj))
        elif i < bi:
            codes.append(("delete", i, bi, j, bj))
        elif j < bj:
            codes.append(("insert", i, bi, j, bj))
        if n:
            codes.append(("equal", bi, bi + n, bj, bj + n))
        i, j = bi + n, bj + n
    return codes


def _groups(codes: list[Opcode], n: int) -> list[list[Opcode]]:
    """Change runs with ``n`` lines of context; runs closer than ``2n`` lines share a hunk."""
    if not codes:
        return []
    codes = list(codes)
    if codes[0][0] == "equal":
        t, i1, i2, j1, j2 = codes[0]
        codes[0] = (t, max(i1, i2 - n), i2, max(j1, j2 - n), j2)
    if codes[-1][0] == "equal":
        t, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (t, i1, min(i2, i1 + n), j1, min(j2, j1 + n))
    groups: list[list[Opcode]] = []
    group: list[Opcode] = []
    for t, i1, i2, j1, j2 in codes:
        if t == "equal" and i2 - i1 > 2 * n:
            group.append((t, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((t, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    return groups


def text_diff(old: str, new: str, *, context: int, header: tuple[str, str] | None = None) -> str:
    """``old`` → ``new`` as a unified diff with ``context`` lines around each change."""
    if old == new:
        return ""
    a = _lines(old)
    b = _lines(new)
    out: list[str] = []
    if header is not None:
        out.append(f"--- {header[0]}\n+++ {header[1]}\n")
    for group in _groups(_opcodes(a, b), context):
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    _emit(out, " ", line)
                continue
            for line in a[i1:i2]:
                _emit(out, "-", line)
            for line in b[j1:j2]:
                _emit(out, "+", line)
    return "".join(out)


def file_diff(change: FileChange) -> str:
    """The ``diff`` Codex puts in ``fileChange.changes[]`` for one change."""
    if change.kind == "add":
        return _text(change.new_contents)
    if change.kind == "delete":
        return _text(change.old_contents)
    diff = text_diff(_text(change.old_contents), _text(change.new_contents), context=1)
    if change.move_path is not None:
        diff += f"\n\nMoved to: {change.move_path}"
    return diff


def git_blob_oid(data: bytes) -> str:
    """Git's object id of a blob with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def _render(
    left: Path, left_data: bytes | None, right: Path, right_data: bytes | None, root: Path | None
) -> str:
    if left_data == right_data or (left_data is None and right_data is None):
        return ""
    ld, rd = _display(left, root), _display(right, root)
    parts = [f"diff --git a/{ld} b/{rd}\n"]
    if left_data is None:
        parts.append("new file mode 100644\n")
    elif right_data is None:
        parts.append("deleted file mode 100644\n")
    left_oid = ZERO_OID if left_data is None else git_blob_oid(left_data)
    right_oid = ZERO_OID if right_data is None else git_blob_oid(right_data)
    parts.append(f"index {left_oid}..{right_oid}\n")
    header = (
        DEV_NULL if left_data is None else f"a/{ld}",
        DEV_NULL if right_data is None else f"b/{rd}",
    )
    parts.append(text_diff(_text(left_data), _text(right_data), context=3, header=header))
    return "".join(parts)


class TurnDiffTracker:
    """The net change of a turn's successful patches, as Codex's tracker keeps it.

    Feed it every committed patch (:meth:`track`); :meth:`unified_diff` renders the
    baseline (each file as it was before the turn first touched it) against the
    current contents, without reading the filesystem.
    """

    def __init__(self, display_root: Path | None = None) -> None:
        self.display_root = display_root
        self._baseline: dict[Path, bytes] = {}
        self._current: dict[Path, bytes] = {}
        self._origin: dict[Path, Path] = {}

    def _known(self, path: Path) -> bool:
        return path in self._current or path in self._baseline

    def track(self, changes: Iterable[FileChange]) -> None:
        for change in changes:
            path = change.path
            if change.kind == "add":
                self._origin.pop(path, None)
                if not self._known(path) and change.old_contents is not None:
                    self._baseline[path] = change.old_contents
                self._current[path] = change.new_contents or b""
            elif change.kind == "delete":
                if self._current.pop(path, None) is None and path not in self._baseline:
                    self._baseline[path] = change.old_contents or b""
                self._origin.pop(path, None)
            else:
                self._track_update(change)

    def _track_update(self, change: FileChange) -> None:
        path, dest = change.path, change.move_path
        if not self._known(path):
            self._baseline[path] = change.old_contents or b""
        new = change.new_contents or b""
        if dest is None:
            self._current[path] = new
            return
        if not self._known(dest) and change.move_old_contents is not None:
            self._baseline[dest] = change.move_old_contents
        origin = self._origin.pop(path, path)
        self._current.pop(path, None)
        self._current[dest] = new
        self._origin.pop(dest, None)
        if dest != origin:
            self._origin[dest] = origin

    def _rename_pairs(self) -> dict[Path, Path]:
        pairs: dict[Path, Path] = {}
        for dest, origin in self._origin.items():
            if (
                dest == origin
                or origin in self._current
                or dest not in self._current
                or origin not in self._baseline
                or dest in self._baseline
            ):
                continue
            pairs[origin] = dest
        return pairs

    def unified_diff(self) -> str | None:
        """The turn's git-style diff, or ``None`` when nothing differs."""
        renames = self._rename_pairs()
        destinations = set(renames.values())
        paths = sorted(
            set(self._baseline) | set(self._current), key=lambda p: _display(p, self.display_root)
        )
        out: list[str] = []
        for path in paths:
            if path in destinations:
                continue
            dest = renames.get(path, path)
            diff = _render(
                path, self._baseline.get(path), dest, self._current.get(dest), self.display_root
            )
            if diff:
                out.append(diff if diff.endswith("\n") else diff + "\n")
        return "".join(out) or None


def unified_diff_for_turn(
    before: Mapping[Path, bytes | None],
    after: Mapping[Path, bytes | None],
    cwd: Path,
    *,
    moves: Mapping[Path, Path] | None = None,
) -> str:
    """A whole turn's git-style diff from file snapshots (``None``: the file is absent).

    ``moves`` maps a destination to the path it was moved from; such a pair renders as
    one ``diff --git a/<from> b/<to>`` section, as Codex renders a move. Paths are shown
    relative to ``cwd`` (absolute when outside it). Returns ``""`` when nothing differs.
    """
    root = Path(os.path.abspath(cwd))
    pairs = {origin: dest for dest, origin in (moves or {}).items()}
    destinations = set(pairs.values())
    paths = sorted(set(before) | set(after), key=lambda p: _display(p, root))
    out: list[str] = []
    for path in paths:
        if path in destinations:
            continue
        dest = pairs.get(path, path)
        diff = _render(path, before.get(path), dest, after.get(dest), root)
        if diff:
            out.append(diff if diff.endswith("\n") else diff + "\n")
    return "".join(out)
