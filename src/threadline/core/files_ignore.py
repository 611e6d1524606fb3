"""``.gitignore`` rules for the file search: which walked paths to leave out.

A small reading of gitignore(5): blank lines and ``#`` comments are skipped, ``!``
re-includes, a trailing ``/`` matches directories only, a pattern with a ``/``
before its end is anchored to the directory of the file that holds it (otherwise it
matches a name at any depth), ``*`` and ``?`` stay within one component, ``**``
crosses components, ``[...]`` is a character class. The last matching rule wins.
``.gitignore`` and ``.ignore`` of every directory apply below it, and
``.git/info/exclude`` of a repository root applies to the whole repository.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = ["IgnoreRules", "read_rules"]

IGNORE_FILES = (".gitignore", ".ignore")


def _translate(body: str) -> str:
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == "*":
            if body.startswith("**", i):
                # "**/" = any leading directories; "/**" = everything below; "**" alone.
                if body.startswith("**/", i):
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = body.find(
                "]", i + 2 if body.startswith("[!", i) or body.startswith("[^", i) else i + 1
            )
            if j < 0:
                out.append(re.escape(c))
            else:
                inner = body[i + 1 : j]
                if inner.startswith("!"):
                    inner = "^" + inner[1:]
                out.append("[" + inner.replace("\\", "\\\\") + "]")
                i = j + 1
                continue
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(body[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _union(rules: list[_Rule]) -> re.Pattern[str] | None:
    if not rules:
        return None
    return re.compile("|".join(f"(?:{r.regex.pattern})" for r in rules), re.DOTALL)


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """The rules of one ignore file, matched against paths relative to ``base``."""

    base: str
    rules: tuple[_Rule, ...]
    _any: re.Pattern[str] | None = None
    _any_dir: re.Pattern[str] | None = None
    _ordered: bool = True

    @classmethod
    def of(cls, base: str, rules: list[_Rule]) -> IgnoreRules:
        """With no ``!`` rule the order does not matter: one expression for all."""
        if any(r.negate for r in rules):
            return cls(base, tuple(rules))
        files = _union([r for r in rules if not r.dir_only])
        dirs = _union(list(rules))
        return cls(base, tuple(rules), files, dirs, False)

    def verdict(self, rel: str, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included; None: no rule matched."""
        if not self._ordered:
            pattern = self._any_dir if is_dir else self._any
            return True if pattern is not None and pattern.fullmatch(rel) else None
        result: bool | None = None
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.fullmatch(rel):
                result = not rule.negate
        return result


def _parse(text: str, base: str) -> IgnoreRules | None:
    rules: list[_Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        if not line.endswith("\\ "):
            line = line.rstrip(" ")
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        elif line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        pattern = body if anchored else f"(?:.*/)?{body}"
        # A pattern that names a directory also covers what is below it.
        rules.append(_Rule(re.compile(pattern, re.DOTALL), negate, dir_only))
    return IgnoreRules.of(base, rules) if rules else None


def read_rules(directory: str) -> list[IgnoreRules]:
    """The rules that ``directory``'s own ignore files (and, at a repository root, its
    ``.git/info/exclude``) add for the paths below it."""
    found: list[IgnoreRules] = []
    names = (*IGNORE_FILES, os.path.join(".git", "info", "exclude"))
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read(1 << 20)
        except OSError:
            continue
        rules = _parse(text, directory)
        if rules is not None:
            found.append(rules)
    return found
