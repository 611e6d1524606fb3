"""Finding a chunk's lines in a file, with Codex's ``seek_sequence`` tolerance ladder."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["normalise_punctuation", "seek_sequence"]

_FOLD = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
        **dict.fromkeys(
            "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "
        ),
    }
)


def normalise_punctuation(line: str) -> str:
    """``line`` trimmed, with typographic dashes, quotes and spaces folded to ASCII."""
    return line.strip().translate(_FOLD)


def _rstrip(line: str) -> str:
    return line.rstrip()


def _strip(line: str) -> str:
    return line.strip()


def seek_sequence(lines: list[str], pattern: list[str], start: int, *, eof: bool) -> int | None:
    """Index of the first place at or after ``start`` where ``pattern`` occurs in ``lines``.

    Each pass is looser than the one before: exact, trailing whitespace ignored, both
    ends' whitespace ignored, punctuation folded (:func:`normalise_punctuation`). With
    ``eof`` only the position that ends at the last line is tried, and only if it is not
    before ``start`` (Codex 0.169 does not fall back to an earlier match). An empty pattern matches at ``start``.
    """
    if not pattern:
        return start
    if len(pattern) > len(lines):
        return None
    last = len(lines) - len(pattern)
    first = last if eof else start
    if first < start:
        return None
    n = len(pattern)
    head = pattern[0]
    i = first
    while i <= last:
        try:
            i = lines.index(head, i, last + 1)
        except ValueError:
            break
        if lines[i : i + n] == pattern:
            return i
        i += 1
    folds: tuple[Callable[[str], str], ...] = (_rstrip, _strip, normalise_punctuation)
    for fold in folds:
        target = [fold(p) for p in pattern]
        for i in range(first, last + 1):
            if all(fold(lines[i + k]) == target[k] for k in range(n)):
                return i
    return None
