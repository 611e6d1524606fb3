"""Recognising a model that runs ``apply_patch`` through the shell tool.

Codex 0.169 intercepts these command forms (``invocation.rs``) and applies the patch
itself instead of running a program:

* argv ``["apply_patch", PATCH]`` or ``["applypatch", PATCH]``;
* argv ``[SHELL, "-lc" | "-c", SCRIPT]`` with SHELL ``bash``, ``zsh`` or ``sh`` (any
  directory, by file stem; also ``pwsh``/``powershell`` ``[-NoProfile] -Command`` and
  ``cmd /c``, which Codex reads the same way), where SCRIPT is the single statement
  ``apply_patch <<'EOF'`` ... ``EOF`` (any delimiter word, quoted or not), optionally
  preceded by ``cd DIR &&`` (DIR one word, or one single- or double-quoted string).
  Anything before or after that statement (``echo x;``, ``&& echo done``) means it is an
  ordinary command.

A string (``exec_command``'s ``cmd``) is read as SCRIPT. One form is our addition:
a SCRIPT that is exactly ``apply_patch 'PATCH'`` (or double-quoted) is accepted too,
since threadline has no ``apply_patch`` program on ``PATH`` for the shell to find.
"""

from __future__ import annotations

import os
import re
import shlex

__all__ = ["APPLY_PATCH_COMMANDS", "extract_invocation"]

APPLY_PATCH_COMMANDS = ("apply_patch", "applypatch")

_HEREDOC = re.compile(
    r"""\A\s*
    (?:cd\s+(?P<cd>'[^']*'|"[^"\\$`]*"|[^\s'"&;|<>()$`\\]+)\s*&&\s*)?
    (?:apply_patch|applypatch)[ \t]*<<-?[ \t]*
    (?P<q>['"]?)(?P<delim>[A-Za-z_][A-Za-z0-9_]*)(?P=q)[ \t]*\n
    (?P<body>.*?)
    ^\t*(?P=delim)[ \t]*\n?\s*\Z
    """,
    re.DOTALL | re.MULTILINE | re.VERBOSE,
)


def _shell_flag_ok(stem: str, flag: str) -> bool:
    if stem in ("bash", "zsh", "sh"):
        return flag in ("-lc", "-c")
    if stem in ("pwsh", "powershell"):
        return flag.lower() == "-command"
    return stem == "cmd" and flag.lower() == "/c"


def _shell_script(argv: list[str]) -> str | None:
    if not argv:
        return None
    stem = os.path.splitext(os.path.basename(argv[0].replace("\\", "/")))[0].lower()
    if len(argv) == 4 and stem in ("pwsh", "powershell") and argv[1].lower() == "-noprofile":
        argv = [argv[0], argv[2], argv[3]]
    if len(argv) == 3 and _shell_flag_ok(stem, argv[1]):
        return argv[2]
    return None


def _from_script(script: str) -> tuple[str, str | None] | None:
    match = _HEREDOC.match(script)
    if match is not None:
        cd = match.group("cd")
        if cd is not None and cd[:1] in ("'", '"'):
            cd = cd[1:-1]
        return match.group("body").rstrip("\n"), cd
    stripped = script.strip()
    if not stripped.startswith(APPLY_PATCH_COMMANDS):
        return None
    try:
        words = shlex.split(stripped)
    except ValueError:
        return None
    if len(words) == 2 and words[0] in APPLY_PATCH_COMMANDS and "*** Begin Patch" in words[1]:
        return words[1], None
    return None


def extract_invocation(argv_or_cmd: str | list[str]) -> tuple[str, str | None] | None:
    """``(patch_text, workdir)`` when the command is an apply_patch invocation, else ``None``.

    ``workdir`` is the ``cd`` target as written (relative to the command's cwd unless
    absolute), or ``None``. The patch text is returned as found; :func:`parse_patch`
    decides whether it is a valid patch.
    """
    if isinstance(argv_or_cmd, str):
        return _from_script(argv_or_cmd)
    argv = list(argv_or_cmd)
    if len(argv) == 2 and argv[0] in APPLY_PATCH_COMMANDS:
        return argv[1], None
    script = _shell_script(argv)
    return None if script is None else _from_script(script)
