"""``fuzzyFileSearch``: the best fuzzy matches of a query among the files under roots.

Like Codex: every file and directory below each root is a candidate (hidden ones
too), except what ``.gitignore`` / ``.ignore`` rules leave out; the query is split on
whitespace into atoms that must all match the path (relative to its root) as
case-insensitive subsequences; the best :data:`MATCH_LIMIT` are returned by score
(descending), then path.

The score follows the fzf / nucleo scheme Codex uses: 16 per matched character, a
bonus for a match at a word start (9 after ``/`` or at the start, 10 after
whitespace, 8 after other punctuation, 7 at a camelCase or digit boundary), doubled
for an atom's first character, consecutive characters carrying their run's bonus
(at least 4), and gaps costing 3 to open and 1 per further character. On top, a file
whose own name matches the whole query gains 65 536, and an entry whose name *is*
the query 131 072, so that names beat deep directories.

Speed on big trees: the walk lists paths into one newline-joined text per root, a
single regular expression per atom finds the candidates in C, a linear greedy
alignment scores them, and only the best few hundred are rescored exactly.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from threadline.core.files_ignore import IgnoreRules, read_rules

__all__ = ["MATCH_LIMIT", "FuzzyMatch", "search", "walk"]

MATCH_LIMIT = 50
MAX_ENTRIES = 1_000_000
"""A walk stops after this many entries (a runaway root cannot exhaust memory)."""
RESCORE = 400

SCORE_MATCH = 16
GAP_START = 3
GAP_EXTEND = 1
BONUS_WHITE = 10
BONUS_DELIMITER = 9
BONUS_BOUNDARY = 8
BONUS_NON_WORD = 8
BONUS_CAMEL = 7
BONUS_CONSECUTIVE = GAP_START + GAP_EXTEND
NAME_BONUS = 1 << 16
EXACT_NAME_BONUS = 2 << 16

_WHITE, _DELIM, _NONWORD, _LOWER, _UPPER, _NUMBER = range(6)
_DELIMITERS = frozenset("/,:;|")


def _class(ch: str) -> int:
    if ch.isspace():
        return _WHITE
    if ch in _DELIMITERS:
        return _DELIM
    if ch.isdigit():
        return _NUMBER
    if ch.isalpha():
        return _UPPER if ch.isupper() else _LOWER
    return _NONWORD


_CLASSES: dict[str, int] = {}


def _class_of(ch: str) -> int:
    got = _CLASSES.get(ch)
    if got is None:
        got = _class(ch)
        if len(_CLASSES) < 4096:
            _CLASSES[ch] = got
    return got


def _bonus(prev: int, cur: int) -> int:
    if cur >= _LOWER:
        if prev == _WHITE:
            return BONUS_WHITE
        if prev == _DELIM:
            return BONUS_DELIMITER
        if prev == _NONWORD:
            return BONUS_BOUNDARY
    if (prev == _LOWER and cur == _UPPER) or (prev != _NUMBER and cur == _NUMBER):
        return BONUS_CAMEL
    if cur == _WHITE:
        return BONUS_WHITE
    if cur in (_NONWORD, _DELIM):
        return BONUS_NON_WORD
    return 0


def _bonuses(text: str) -> list[int]:
    out: list[int] = []
    prev = _DELIM
    for ch in text:
        cur = _class_of(ch)
        out.append(_bonus(prev, cur))
        prev = cur
    return out


def _exact(atom: str, text: str, low: str, bonus: list[int]) -> tuple[int, list[int]] | None:
    """The best alignment of ``atom`` (lower case) in ``text``: (score, indices)."""
    m, n = len(atom), len(text)
    neg = -(1 << 30)
    # score[i][j]: best score with atom[i] matched at text[j]; run[i][j]: its run bonus.
    prev_score = [neg] * n
    prev_run = [0] * n
    back: list[list[int]] = []
    for i in range(m):
        ch = atom[i]
        score = [neg] * n
        run = [0] * n
        from_ = [-1] * n
        gap_best, gap_at = neg, -1
        for j in range(n):
            if i > 0 and j >= 2:
                cand = prev_score[j - 2] - GAP_START
                if gap_best - GAP_EXTEND >= cand:
                    gap_best -= GAP_EXTEND
                else:
                    gap_best, gap_at = cand, j - 2
            elif i > 0:
                gap_best -= GAP_EXTEND
            if low[j] != ch:
                continue
            b = bonus[j]
            if i == 0:
                score[j], run[j] = SCORE_MATCH + 2 * b, b
                continue
            best, best_run, best_from = neg, 0, -1
            if j >= 1 and prev_score[j - 1] > neg:
                chunk = prev_run[j - 1]
                add = max(b, chunk, BONUS_CONSECUTIVE)
                new_run = b if b >= BONUS_BOUNDARY and b > chunk else chunk
                best, best_run, best_from = prev_score[j - 1] + SCORE_MATCH + add, new_run, j - 1
            if gap_best > neg // 2:
                cand = gap_best + SCORE_MATCH + b
                if cand > best:
                    best, best_run, best_from = cand, b, gap_at
            score[j], run[j], from_[j] = best, best_run, best_from
        back.append(from_)
        prev_score, prev_run = score, run
    top = max(range(n), key=lambda j: prev_score[j], default=-1)
    if top < 0 or prev_score[top] <= neg // 2:
        return None
    indices = [top]
    j = top
    for i in range(m - 1, 0, -1):
        j = back[i][j]
        indices.append(j)
    indices.reverse()
    return prev_score[top], indices


def _bonus_at(text: str, pos: int) -> int:
    prev = _class_of(text[pos - 1]) if pos else _DELIM
    return _bonus(prev, _class_of(text[pos]))


def _greedy(atom: str, text: str, low: str) -> int:
    """A quick lower bound of the atom's score: the leftmost match, tightened back to
    the latest start that still fits, then taken forward again."""
    j = -1
    for ch in atom:
        j = low.find(ch, j + 1)
        if j < 0:
            return -1
    k = j + 1
    for ch in reversed(atom):
        k = low.rfind(ch, 0, k)
    total, run, last = 0, 0, -2
    pos = k - 1
    for i, ch in enumerate(atom):
        pos = low.find(ch, pos + 1)
        b = _bonus_at(text, pos)
        if i == 0:
            total += SCORE_MATCH + 2 * b
            run = b
        elif pos == last + 1:
            total += SCORE_MATCH + max(b, run, BONUS_CONSECUTIVE)
            if b >= BONUS_BOUNDARY and b > run:
                run = b
        else:
            total += SCORE_MATCH + b - GAP_START - (pos - last - 2) * GAP_EXTEND
            run = b
        last = pos
    return total


@dataclass(frozen=True, slots=True)
class FuzzyMatch:
    root: str
    path: str
    is_dir: bool
    score: int
    indices: list[int]

    @property
    def file_name(self) -> str:
        return os.path.basename(self.path) or self.path


def _linked_dir(
    entry: os.DirEntry[str], real_dir: str, root_real: str, seen: set[str]
) -> str | None:
    """Where the symlink ``entry`` leads when it is a directory inside the root that is
    not walked yet and not an ancestor (a loop); None otherwise."""
    try:
        if not entry.is_dir():
            return None
    except OSError:
        return None
    target = os.path.realpath(entry.path)
    inside = target == root_real or target.startswith(root_real.rstrip("/") + "/")
    ancestor = real_dir == target or real_dir.startswith(target.rstrip("/") + "/")
    if not inside or ancestor or target in seen:
        return None
    seen.add(target)
    return target


def walk(root: str, cancelled: threading.Event | None = None) -> Iterator[tuple[str, bool]]:
    """``(path relative to root, is directory)`` for what lies below ``root``, minus what
    ignore files leave out. Like Codex, symlinked directories are followed, but only to
    directories inside ``root`` (each once, never into a loop)."""
    root_real = os.path.realpath(root)
    seen: set[str] = set()
    top = [(0, r) for r in read_rules(root)]
    # (directory to list, its real path, its path relative to root + "/", ignore rules)
    stack: list[tuple[str, str, str, list[tuple[int, IgnoreRules]]]] = [(root, root_real, "", top)]
    count = 0
    while stack:
        directory, real_dir, rel_dir, rules = stack.pop()
        if cancelled is not None and cancelled.is_set():
            return
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                real_child = f"{real_dir.rstrip('/')}/{entry.name}" if is_dir else None
                if not is_dir and entry.is_symlink():
                    real_child = _linked_dir(entry, real_dir, root_real, seen)
                    is_dir = real_child is not None
            except OSError:
                continue
            ignored: bool | None = None
            for offset, ruleset in rules:
                verdict = ruleset.verdict(rel[offset:], is_dir)
                if verdict is not None:
                    ignored = verdict
            if ignored:
                continue
            count += 1
            if count > MAX_ENTRIES:
                return
            yield rel, is_dir
            if is_dir and real_child is not None:
                below = rel + "/"
                child = [(len(below), r) for r in read_rules(entry.path)]
                stack.append((entry.path, real_child, below, rules + child if child else rules))


def _atom_regex(atom: str) -> re.Pattern[str]:
    body = "".join(f"[^\n]*?{re.escape(c)}" for c in atom)
    return re.compile(f"^(?={body})[^\n]*$", re.MULTILINE | re.IGNORECASE)


def _score(atoms: list[str], path: str, exact: bool) -> tuple[int, list[int]] | None:
    low = path.lower()
    total = 0
    indices: set[int] = set()
    if not exact:
        for atom in atoms:
            s = _greedy(atom, path, low)
            if s < 0:
                return None
            total += s
        return total, []
    bonus = _bonuses(path)
    for atom in atoms:
        got = _exact(atom, path, low, bonus)
        if got is None:
            return None
        total += got[0]
        indices.update(got[1])
    return total, sorted(indices)


def _name_bonus(query: str, path: str, is_dir: bool) -> int:
    name = path[path.rfind("/") + 1 :].lower()
    q = query.lower()
    extra = 0
    if not is_dir:
        j = -1
        for ch in q:
            j = name.find(ch, j + 1)
            if j < 0:
                break
        else:
            extra += NAME_BONUS
    if name == q:
        extra += EXACT_NAME_BONUS
    return extra


def search(
    query: str,
    roots: list[str],
    *,
    limit: int = MATCH_LIMIT,
    cancelled: threading.Event | None = None,
) -> list[FuzzyMatch]:
    """The best ``limit`` matches of ``query`` under ``roots`` (already checked)."""
    atoms = [a.lower() for a in query.split()]
    if not atoms or not roots:
        return []
    regexes = [_atom_regex(a) for a in atoms]
    # Candidates by their name bonus first: a tier's scores never reach the next one
    # (a path's own score stays far below 65 536), so lower tiers are scored only
    # while the higher ones hold fewer than ``limit`` matches.
    tiers: dict[int, list[tuple[str, str, bool]]] = {}
    for root in roots:
        listing = list(walk(root, cancelled))
        dirs = {p for p, d in listing if d}
        text = "\n".join(p for p, _ in listing)
        candidates: set[str] | None = None
        for rx in regexes:
            found = {m.group(0) for m in rx.finditer(text)}
            candidates = found if candidates is None else candidates & found
        named_dirs: list[str] = []
        for path in candidates or ():
            is_dir = path in dirs
            bonus = _name_bonus(query, path, is_dir)
            if is_dir and bonus:
                named_dirs.append(path)  # placed below: only one of them keeps it
                continue
            tiers.setdefault(bonus, []).append((root, path, is_dir))
        # Of the directories named like the query, Codex ranks up one (the shallowest,
        # as recorded); the others score as any directory.
        named_dirs.sort(key=lambda p: (p.count("/"), p))
        for n, path in enumerate(named_dirs):
            tiers.setdefault(EXACT_NAME_BONUS if n == 0 else 0, []).append((root, path, True))
    rough: list[tuple[int, str, str, bool]] = []
    for tier in sorted(tiers, reverse=True):
        if len(rough) >= limit:
            break
        for root, path, is_dir in tiers[tier]:
            if cancelled is not None and cancelled.is_set():
                return []
            got = _score(atoms, path, exact=False)
            if got is not None:
                rough.append((got[0] + tier, root, path, is_dir))
    rough.sort(key=lambda t: (-t[0], t[2]))
    matches: list[FuzzyMatch] = []
    for rough_score, root, path, is_dir in rough[: max(RESCORE, limit)]:
        got = _score(atoms, path, exact=True)
        if got is None:
            continue
        score = got[0] + (rough_score // NAME_BONUS) * NAME_BONUS
        matches.append(FuzzyMatch(root, path, is_dir, score, got[1]))
    matches.sort(key=lambda m: (-m.score, m.path))
    return matches[:limit]
