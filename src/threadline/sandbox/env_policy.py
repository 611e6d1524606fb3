"""The environment a command gets: Codex's ``[shell_environment_policy]``.

The server's own environment holds secrets (the model provider's API key, tokens of
whoever started it). A command the model runs, and so its output that goes back to the
model, sees only what this policy lets through. The steps, in Codex's order:

1. **inherit** — start from the server's whole environment (``"all"``, the default), from
   the core variables only (``"core"``: :data:`CORE_VARS`, names matched ignoring case),
   or from nothing (``"none"``).
2. **default excludes** — unless ``ignore_default_excludes = true``, drop every name that
   matches ``*KEY*``, ``*SECRET*`` or ``*TOKEN*`` (ignoring case).
3. **exclude** — drop names matching any of these patterns.
4. **set** — add or replace these exact name/value pairs.
5. **include_only** — when not empty, keep only names matching one of these patterns.

Patterns are globs on the variable *name*: ``*`` is any run of characters, ``?`` one
character, everything else literal, compared ignoring case (Codex's
``EnvironmentVariablePattern``).

Codex's current default is ``ignore_default_excludes = true`` (secrets pass). threadline
defaults to ``false``: the default excludes apply unless the user turns them off.

On top of the five steps, threadline never passes a model provider's ``env_key`` (every
configured provider's, plus ``OPENAI_API_KEY``) nor Codex's launch-context variables
(:data:`NEVER_INHERITED`), even when no pattern matches them (``env_key = "MY_LLM"``) and
even with ``ignore_default_excludes = true``. The one way to hand such a variable to
commands is to name it in ``set``: the user typed that value, so it wins.

``experimental_use_profile = true`` makes every command run through a login shell
(``bash -lc``), which reads the user's shell profile, even when the model asks for
``login: false``. (Commands already run through a login shell by default.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import field
from functools import cached_property
from types import MappingProxyType
from typing import Literal

from threadline.protocol.records import record

EnvInherit = Literal["all", "core", "none"]
ENV_INHERIT_VALUES: tuple[EnvInherit, ...] = ("all", "core", "none")

CORE_VARS: tuple[str, ...] = (
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LOGNAME",
    "PATH",
    "SHELL",
    "TEMP",
    "TMP",
    "TMPDIR",
    "USER",
    "USERNAME",
)
"""What ``inherit = "core"`` keeps (Codex's Unix core list, plus ``USERNAME``)."""

DEFAULT_EXCLUDES: tuple[str, ...] = ("*KEY*", "*SECRET*", "*TOKEN*")

NEVER_INHERITED: tuple[str, ...] = (
    "CODEX_EXEC_SERVER_NOISE_AUTH_TOKEN",
    "NODE_REPL_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "OPENAI_FEDERATION_RULE_ID",
    "OPENAI_IDENTITY_TOKEN_FILE",
    "OPENAI_WORKLOAD_IDENTITY_CONTEXT",
)
"""Removed whatever the policy says, unless ``set`` names them (Codex's non-inheritable
launch-context variables, and the built-in OpenAI provider's key)."""


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


class EnvPattern:
    """A case-insensitive glob over variable names (``*`` and ``?``)."""

    __slots__ = ("_regex", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern]
        self._regex = re.compile("".join(parts), re.IGNORECASE | re.DOTALL)

    def matches(self, name: str) -> bool:
        return self._regex.fullmatch(name) is not None

    def __repr__(self) -> str:
        return f"EnvPattern({self.pattern!r})"


def _matches_any(name: str, patterns: Iterable[EnvPattern]) -> bool:
    return any(p.matches(name) for p in patterns)


@record(slots=False)
class ShellEnvironmentPolicy:
    """``[shell_environment_policy]`` as configured (see the module docstring)."""

    inherit: EnvInherit = "all"
    ignore_default_excludes: bool = False
    exclude: tuple[str, ...] = ()
    set: Mapping[str, str] = field(default_factory=_empty)
    include_only: tuple[str, ...] = ()
    experimental_use_profile: bool = False

    def __post_init__(self) -> None:
        if self.inherit not in ENV_INHERIT_VALUES:
            raise ValueError(
                f"inherit must be one of {', '.join(ENV_INHERIT_VALUES)}; got {self.inherit!r}"
            )

    @cached_property
    def _exclude(self) -> tuple[EnvPattern, ...]:
        return tuple(EnvPattern(p) for p in self.exclude)

    @cached_property
    def _include_only(self) -> tuple[EnvPattern, ...]:
        return tuple(EnvPattern(p) for p in self.include_only)

    def to_json(self) -> dict[str, object]:
        return {
            "inherit": self.inherit,
            "ignore_default_excludes": self.ignore_default_excludes,
            "exclude": list(self.exclude),
            "set": dict(self.set),
            "include_only": list(self.include_only),
            "experimental_use_profile": self.experimental_use_profile,
        }

    def build(
        self, source: Mapping[str, str], *, secret_names: Iterable[str] = ()
    ) -> dict[str, str]:
        """The environment for a command, from the server's environment ``source``.

        ``secret_names`` are the model providers' ``env_key`` variables: removed (as is
        :data:`NEVER_INHERITED`) unless ``set`` gives them a value.
        """
        # 1. inherit
        if self.inherit == "all":
            env = dict(source)
        elif self.inherit == "core":
            core = {name.upper() for name in CORE_VARS}
            env = {k: v for k, v in source.items() if k.upper() in core}
        else:
            env = {}
        # 2. default excludes
        if not self.ignore_default_excludes:
            defaults = tuple(EnvPattern(p) for p in DEFAULT_EXCLUDES)
            env = {k: v for k, v in env.items() if not _matches_any(k, defaults)}
        # 3. exclude
        if self._exclude:
            env = {k: v for k, v in env.items() if not _matches_any(k, self._exclude)}
        # Provider keys and launch context go before ``set``, so ``set`` can bring them back.
        never = {n.upper() for n in (*NEVER_INHERITED, *secret_names) if n}
        env = {k: v for k, v in env.items() if k.upper() not in never}
        # 4. set
        env.update(self.set)
        # 5. include_only
        if self._include_only:
            env = {k: v for k, v in env.items() if _matches_any(k, self._include_only)}
        return env


__all__ = [
    "CORE_VARS",
    "DEFAULT_EXCLUDES",
    "ENV_INHERIT_VALUES",
    "NEVER_INHERITED",
    "EnvInherit",
    "EnvPattern",
    "ShellEnvironmentPolicy",
]
