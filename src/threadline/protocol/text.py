"""Strings that UTF-8 (and so every JSON parser and SQLite) can always carry.

A Python ``str`` may hold lone surrogates (``"\\udcff"``): a file name that is not
UTF-8 decodes that way (``surrogateescape``), and a library caller can pass any
``str``. No UTF-8 encoder accepts them, so whatever is stored or sent goes through
:func:`without_surrogates` (or :func:`dumps_compact`, for JSON text): each lone
surrogate becomes U+FFFD, the replacement character, as on the wire.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["LONE_SURROGATE", "dumps_compact", "scrub_surrogates", "without_surrogates"]

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""One UTF-16 surrogate code point (in a ``str`` each is alone: pairs are combined)."""

REPLACEMENT = "\ufffd"


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the same object when none)."""
    if text.isascii() or LONE_SURROGATE.search(text) is None:
        return text
    return LONE_SURROGATE.sub(REPLACEMENT, text)


def dumps_compact(obj: Any) -> str:
    """Compact JSON text (``ensure_ascii=False``) that always encodes as UTF-8: lone
    surrogates in strings and keys are written as U+FFFD."""
    # The encoder copies them into its output as they are (it only escapes quotes,
    # backslashes and control characters), so replacing them in the text is the same
    # as replacing them in every string beforehand.
    return without_surrogates(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))



_MAX_DEPTH = 256


def _holds_surrogate(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return not value.isascii() and LONE_SURROGATE.search(value) is not None
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return any(
            _holds_surrogate(key, depth) or _holds_surrogate(item, depth + 1)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return any(_holds_surrogate(item, depth + 1) for item in value)
    return False


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return without_surrogates(value)
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {_scrub(key, depth): _scrub(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value]
    return value


def scrub_surrogates(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, tuples, strings, scalars) with lone surrogates
    in every string and key replaced by U+FFFD. A value without any is returned as it
    is (one scan, no copy); otherwise a copy is made (tuples become lists, as in JSON)."""
    return _scrub(value, 0) if _holds_surrogate(value) else value
