"""Known-safe commands: what ``untrusted`` runs without asking.

Under ``approval_policy = "untrusted"`` a command line runs at once only when it can be
shown to be read-only from its words alone; everything else waits for the user. This is
Codex's ``is_known_safe_command`` (codex-rs ``shell-command/src/command_safety``), written
again here:

1. The script must be *plain*: simple commands made of bare words and quoted strings,
   joined by ``&&``, ``||``, ``;``, ``|`` (or a newline). Redirections, substitutions,
   variables, subshells, groups, background ``&``, comments, assignments and control flow
   make it not plain, so it asks (:func:`parse_plain_commands`).
2. Every command in it must be on the read-only list, with the argument checks of its
   program (:func:`is_safe_words`): ``find`` without its executing, deleting or
   file-writing actions, ``rg`` without ``--pre``/``--hostname-bin``/``--search-zip``,
   ``git`` only ``status``/``log``/``diff``/``show`` and listing ``branch`` without
   repository or config redirection, ``sed -n {N|M,N}p``, ``base64`` without ``-o``.

Where Codex's words leave room for a write, threadline asks instead (each spot is
marked "stricter than Codex" below): ``uniq`` with an OUTPUT operand, unquoted glob,
brace and escape characters (the shell's expansion could produce a word such as
``-delete`` that no check saw), short ``rg`` clusters containing ``z``, and programs named
by a relative path (``./ls`` is whatever the workspace put there).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

SHELLS = frozenset({"bash", "zsh", "sh"})
"""Shells whose ``-c``/``-lc`` script :func:`is_known_safe` knows how to read."""

_PLAIN_PROGRAMS = frozenset(
    {
        "cat",
        "cd",
        "cut",
        "echo",
        "expr",
        "false",
        "grep",
        "head",
        "id",
        "ls",
        "nl",
        "paste",
        "pwd",
        "rev",
        "seq",
        "stat",
        "tail",
        "tr",
        "true",
        "uname",
        "wc",
        "which",
        "whoami",
    }
)
"""Read-only whatever their arguments (they only read files and write standard output)."""

_LINUX_PROGRAMS = frozenset({"numfmt", "tac"})
"""GNU coreutils only: read-only on Linux (Codex allows them there only)."""

_TRUSTED_DIRS = ("/bin/", "/usr/bin/", "/usr/local/bin/")


# ---- the shell script: plain words and four operators only ---------------------------------

_BINARY_OPERATORS = frozenset({"&&", "||", "|"})
# Unquoted characters that make the shell do more than split words: redirection,
# substitution and expansion, grouping, background jobs, negation, comments, escapes and
# (stricter than Codex) pathname and brace expansion.
_UNQUOTED_SPECIAL = frozenset("<>()$`\\{}*?[]!#&")
# Inside double quotes the shell still expands these (and a backslash escapes).
_DOUBLE_QUOTED_SPECIAL = frozenset("$`\\")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_NEWLINE = "\n"


class _NotPlain(Exception):
    """The script uses shell syntax beyond plain words and the four safe operators."""


def _lex(script: str) -> list[tuple[str, str | None]]:
    """``(value, raw)`` for each word, ``(operator, None)`` for each operator or newline.

    ``raw`` is the word as written (quotes included), to tell ``FOO=1`` (an assignment)
    from ``"FOO=1"``. Raises :class:`_NotPlain` on anything else.
    """
    out: list[tuple[str, str | None]] = []
    value: list[str] = []
    start: int | None = None
    i, n = 0, len(script)

    def end_word(at: int) -> None:
        nonlocal start
        if start is not None:
            out.append(("".join(value), script[start:at]))
            value.clear()
            start = None

    while i < n:
        ch = script[i]
        if ch in " \t\n":
            end_word(i)
            if ch == _NEWLINE:
                out.append((_NEWLINE, None))
            i += 1
            continue
        if script.startswith(("&&", "||"), i):
            end_word(i)
            out.append((script[i : i + 2], None))
            i += 2
            continue
        if ch in ";|":
            if script.startswith((";;", ";&", "|&"), i):
                raise _NotPlain(f"operator {script[i : i + 2]!r}")
            end_word(i)
            out.append((ch, None))
            i += 1
            continue
        if ch in _UNQUOTED_SPECIAL:
            raise _NotPlain(f"unquoted {ch!r}")
        if start is None:
            start = i
        if ch == "'":
            close = script.find("'", i + 1)
            if close < 0:
                raise _NotPlain("unterminated single quote")
            value.append(script[i + 1 : close])
            i = close + 1
        elif ch == '"':
            j = i + 1
            while j < n and script[j] != '"':
                if script[j] in _DOUBLE_QUOTED_SPECIAL:
                    raise _NotPlain(f"{script[j]!r} inside double quotes")
                j += 1
            if j >= n:
                raise _NotPlain("unterminated double quote")
            value.append(script[i + 1 : j])
            i = j + 1
        else:
            value.append(ch)
            i += 1
    end_word(n)
    return out


def parse_plain_commands(script: str) -> list[list[str]] | None:
    """The word lists of a script made only of plain commands joined by ``&& || ; |``.

    ``None`` when the script uses anything else, has an empty command (``ls &&``,
    ``; ls``, ``ls | | wc``) or starts a command with an assignment (``FOO=1 ls``).
    Newlines separate commands like ``;``; a trailing ``;`` is allowed, as bash allows it.
    """
    try:
        tokens = _lex(script)
    except _NotPlain:
        return None
    commands: list[list[str]] = []
    current: list[str] = []
    needs_command = False  # after && || | another command must follow
    for text, raw in tokens:
        if raw is not None:
            if not current and _ASSIGNMENT.match(raw):
                return None
            current.append(text)
            needs_command = False
        elif text == _NEWLINE:
            if current:
                commands.append(current)
                current = []
        elif not current:
            return None  # an operator with no command before it
        else:
            commands.append(current)
            current = []
            needs_command = text in _BINARY_OPERATORS
    if current:
        commands.append(current)
    if needs_command or not commands:
        return None
    return commands


# ---- one command's words -------------------------------------------------------------------


def _program(word: str) -> str | None:
    """The program's name, or ``None`` when it is named by an untrusted path.

    A bare name is looked up in ``PATH`` as usual. A path only counts when it is a file
    directly in a system binary directory (stricter than Codex, which looks only at the
    last component: ``./ls`` would run whatever the workspace calls ``ls``).
    """
    if "/" not in word:
        return word
    head, _, name = word.rpartition("/")
    if not name or head + "/" not in _TRUSTED_DIRS:
        return None
    return name


def is_safe_words(words: Sequence[str]) -> bool:
    """True when this one command (its words, after quote removal) only reads."""
    if not words:
        return False
    program = _program(words[0])
    if program is None:
        return False
    args = list(words[1:])
    if program in _PLAIN_PROGRAMS:
        return True
    if program in _LINUX_PROGRAMS:
        return sys.platform.startswith("linux")
    check = _CHECKS.get(program)
    return check is not None and check(args)


def _base64_ok(args: list[str]) -> bool:
    # macOS base64 writes its result to the file named by -o/--output.
    return not any(a == "--output" or a.startswith(("--output=", "-o")) for a in args)


_FIND_UNSAFE = frozenset(
    {
        # run other programs
        "-exec",
        "-execdir",
        "-ok",
        "-okdir",
        # delete what matched
        "-delete",
        # write the matched names to a file
        "-fls",
        "-fprint",
        "-fprint0",
        "-fprintf",
    }
)


def _find_ok(args: list[str]) -> bool:
    return not any(a in _FIND_UNSAFE for a in args)


_RG_UNSAFE_WITH_VALUE = ("--pre", "--hostname-bin")  # both run a program
_RG_UNSAFE_FLAGS = frozenset({"--search-zip", "-z"})  # runs decompressors


def _rg_ok(args: list[str]) -> bool:
    for a in args:
        if a in _RG_UNSAFE_FLAGS:
            return False
        if any(a == opt or a.startswith(opt + "=") for opt in _RG_UNSAFE_WITH_VALUE):
            return False
        # Stricter than Codex: ``-nz`` is ``-n -z``.
        if a.startswith("-") and not a.startswith("--") and "z" in a[1:]:
            return False
    return True


_SED_PRINT = re.compile(r"[0-9]+(,[0-9]+)?p")


def _sed_ok(args: list[str]) -> bool:
    """Only ``sed -n 5p [FILE]`` / ``sed -n 1,5p [FILE]``: print lines, nothing else.

    Stricter than Codex: the FILE word may not be an option (``-ewout`` would add a
    script that writes ``out``).
    """
    if not 2 <= len(args) <= 3 or args[0] != "-n" or not _SED_PRINT.fullmatch(args[1]):
        return False
    return len(args) == 2 or not args[2].startswith("-")


_UNIQ_SHORT_WITH_VALUE = frozenset("fsw")
_UNIQ_LONG_WITH_VALUE = frozenset({"--skip-fields", "--skip-chars", "--check-chars"})


def _uniq_ok(args: list[str]) -> bool:
    """``uniq [OPTION]... [INPUT [OUTPUT]]`` writes OUTPUT: allow at most one operand.

    Stricter than Codex, which allows ``uniq`` with any arguments.
    """
    operands = 0
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            operands += len(args) - i
            break
        if a.startswith("--"):
            if a in _UNIQ_LONG_WITH_VALUE:
                i += 1
        elif a.startswith("-") and a != "-":
            for pos, letter in enumerate(a[1:], start=1):
                if letter in _UNIQ_SHORT_WITH_VALUE:
                    if pos == len(a) - 1:
                        i += 1  # the value is the next word
                    break
        else:
            operands += 1
    return operands <= 1


# git ------------------------------------------------------------------------------------

_GIT_READ_SUBCOMMANDS = frozenset({"status", "log", "diff", "show", "branch"})
_GIT_GLOBALS_WITH_VALUE = frozenset(
    {
        "-C",
        "-c",
        "--config-env",
        "--exec-path",
        "--git-dir",
        "--namespace",
        "--super-prefix",
        "--work-tree",
    }
)
_GIT_UNSAFE_SUB_OPTIONS = ("--output", "--ext-diff", "--textconv", "--exec", "--paginate")
_GIT_BRANCH_LISTING = frozenset(
    {"--list", "-l", "--show-current", "-a", "--all", "-r", "--remotes", "-v", "-vv", "--verbose"}
)


def _git_global_needs_prompt(arg: str) -> bool:
    """Global options that point git at another repository, config or helper, or a pager."""
    if arg in _GIT_GLOBALS_WITH_VALUE or arg in ("-p", "--paginate"):
        return True
    if arg.startswith(("-C", "-c")) and len(arg) > 2:
        return True
    return any(arg.startswith(opt + "=") for opt in _GIT_GLOBALS_WITH_VALUE if opt.startswith("--"))


def _git_ok(args: list[str]) -> bool:
    # A config override anywhere (``-c core.pager=…``) can make git run any program.
    if any(
        a in ("-c", "--config-env")
        or (a.startswith("-c") and len(a) > 2)
        or a.startswith("--config-env=")
        for a in args
    ):
        return False
    for index, arg in enumerate(args):
        if _git_global_needs_prompt(arg):
            return False
        if arg.startswith("-"):
            continue
        # The first word that is not an option is the subcommand.
        if arg not in _GIT_READ_SUBCOMMANDS:
            return False
        rest = args[index + 1 :]
        if not _git_sub_args_ok(rest):
            return False
        return arg != "branch" or _git_branch_lists(rest)
    return False


def _git_sub_args_ok(args: list[str]) -> bool:
    """No option that writes a file or runs a helper (nor, stricter than Codex, a
    long-option abbreviation of one: git accepts unambiguous prefixes)."""
    for a in args:
        if a.startswith("--") and len(a) > 3:
            name = a.split("=", 1)[0]
            if any(unsafe.startswith(name) for unsafe in _GIT_UNSAFE_SUB_OPTIONS):
                return False
    return True


def _git_branch_lists(args: list[str]) -> bool:
    """``git branch`` only lists when every argument is a listing flag (or there are none)."""
    return all(a in _GIT_BRANCH_LISTING or a.startswith("--format=") for a in args)


_CHECKS = {
    "base64": _base64_ok,
    "find": _find_ok,
    "git": _git_ok,
    "rg": _rg_ok,
    "sed": _sed_ok,
    "uniq": _uniq_ok,
}


# ---- the whole command line ----------------------------------------------------------------


def is_known_safe(command: str, shell: str | None = None) -> bool:
    """True when ``shell -c command`` provably only reads.

    ``shell`` is the program the script is given to (default bash); only bash, zsh and
    sh scripts are understood; any other shell asks.
    """
    if shell is not None and _program(shell) not in SHELLS:
        return False
    commands = parse_plain_commands(command)
    return commands is not None and all(is_safe_words(words) for words in commands)


__all__ = [
    "SHELLS",
    "is_known_safe",
    "is_safe_words",
    "parse_plain_commands",
]
