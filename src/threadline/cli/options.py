"""Options every ``threadline`` command accepts, before or after its sub-command name.

Codex takes ``-c/--config``, ``--enable`` and ``--disable`` at every level of its
command line (``codex -c k=v app-server`` and ``codex app-server -c k=v`` are the
same), and clients rely on both: the official SDKs put them first, the ACP bridge
``codex-acp`` puts them after ``app-server``. threadline adds these options (and
``-p/--profile``) to the root group and to every group and command below it,
through the :func:`shared_options` decorator.

Each level's values are folded into the :class:`GlobalOptions` held in the click
context's ``obj`` when that level's callback runs (root first, then the group,
then the command). Overrides are
kept in command-line order, so a later ``-c`` for the same key wins; a profile
given further right replaces one given further left.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, ParamSpec, TypeVar, get_type_hints

import typer

from threadline.core.config import ConfigError
from threadline.core.config import parse_override as _parse_config_override

__all__ = ["GlobalOptions", "absorb_shared_options", "parse_override", "shared_options"]

P = ParamSpec("P")
R = TypeVar("R")

# Parameter names no command of ours uses for anything else; they never reach the command.
_CONFIG = "shared_config_overrides"
_ENABLE = "shared_enable_features"
_DISABLE = "shared_disable_features"
_PROFILE = "shared_profile"
_FEATURE_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class GlobalOptions:
    """The shared options gathered so far, available as ``ctx.obj`` in every command."""

    config_overrides: tuple[str, ...] = ()
    """``-c/--config key=value`` strings in order, ``--enable/--disable`` as ``features.X=…``."""
    profile: str | None = None
    parsed_overrides: tuple[tuple[str, Any], ...] = field(default=())
    """``config_overrides`` split into (dotted key, value) pairs (see :func:`parse_override`)."""

    def extended(
        self, overrides: tuple[str, ...], parsed: tuple[tuple[str, Any], ...], profile: str | None
    ) -> GlobalOptions:
        """These options followed by one more level's (whose profile, if any, wins)."""
        return replace(
            self,
            config_overrides=self.config_overrides + overrides,
            parsed_overrides=self.parsed_overrides + parsed,
            profile=profile if profile is not None else self.profile,
        )


def parse_override(raw: str) -> tuple[str, Any]:
    """``key=value`` → ``(dotted key, value)``; the value is TOML when it parses, else a string.

    ``model="o3"`` and ``model=o3`` both give ``("model", "o3")``;
    ``sandbox_workspace_write.network_access=true`` gives ``(…, True)``.
    Raises :class:`~threadline.core.config.ConfigError` for a malformed override.
    """
    path, value = _parse_config_override(raw)
    return ".".join(path), value


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _feature_override(flag: str, name: str, enabled: bool) -> str:
    if not _FEATURE_NAME.fullmatch(name):
        raise _usage_error(
            f"{flag} {name!r}: expected a feature name (letters, digits, '_' or '-')"
        )
    return f"features.{name}={'true' if enabled else 'false'}"


def absorb_shared_options(
    ctx: Any,
    config: Sequence[str] | None,
    enable: Sequence[str] | None,
    disable: Sequence[str] | None,
    profile: str | None,
) -> None:
    """Fold one level's shared options into ``ctx.obj`` (after those of the levels above).

    A malformed ``-c`` (no ``=``, an empty key) or a bad feature name ends the
    command with ``error: …`` on stderr and exit code 2, naming the culprit.
    """
    overrides = (
        tuple(config or ())
        + tuple(_feature_override("--enable", name, True) for name in enable or ())
        + tuple(_feature_override("--disable", name, False) for name in disable or ())
    )
    try:
        parsed = tuple(parse_override(item) for item in overrides)
    except ConfigError as exc:
        raise _usage_error(str(exc)) from None
    if profile is not None and not profile.strip():
        raise _usage_error("--profile: the profile name is empty")
    base = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()
    ctx.obj = base.extended(overrides, parsed, profile)


_ConfigOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--config",
        "-c",
        metavar="KEY=VALUE",
        help="Override a config value (repeatable). KEY may be dotted (a.b.c); VALUE is "
        "parsed as TOML, else taken as a string. Accepted before or after the sub-command.",
    ),
]
_EnableOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--enable",
        metavar="FEATURE",
        help="Turn a feature on (repeatable); the same as -c features.FEATURE=true.",
    ),
]
_DisableOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--disable",
        metavar="FEATURE",
        help="Turn a feature off (repeatable); the same as -c features.FEATURE=false.",
    ),
]
_ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        help="Config profile to use (the profiles.NAME table of config.toml).",
    ),
]
_SHARED: dict[str, Any] = {
    _CONFIG: _ConfigOpt,
    _ENABLE: _EnableOpt,
    _DISABLE: _DisableOpt,
    _PROFILE: _ProfileOpt,
}


def shared_options(command: Callable[P, R]) -> Callable[P, R]:
    """Give a typer command or group callback the shared options.

    ``command`` must take ``ctx: typer.Context``. The returned function declares the
    four shared options on top of ``command``'s own parameters (typer reads its
    ``__signature__``); when called it folds them into ``ctx.obj`` with
    :func:`absorb_shared_options` and calls ``command`` with the rest.
    """
    signature = inspect.signature(command, eval_str=True)
    if "ctx" not in signature.parameters:
        raise TypeError(f"{command.__name__}: a command with shared options needs a ctx parameter")
    clash = set(signature.parameters) & set(_SHARED)
    if clash:
        raise TypeError(f"{command.__name__}: parameter(s) {sorted(clash)} are reserved")
    hints = get_type_hints(command, include_extras=True)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint)
        for name, hint in _SHARED.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        shared: dict[str, Any] = {name: kwargs.pop(name, None) for name in _SHARED}
        # typer passes click's own context object here (typer.Context is its typing alias).
        ctx: Any = kwargs["ctx"]
        absorb_shared_options(
            ctx, shared[_CONFIG], shared[_ENABLE], shared[_DISABLE], shared[_PROFILE]
        )
        return command(*args, **kwargs)

    extended = signature.replace(parameters=[*signature.parameters.values(), *extra])
    wrapper.__signature__ = extended  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**hints, **_SHARED}
    del wrapper.__wrapped__  # typer must see the extended signature, not the original's
    return wrapper
