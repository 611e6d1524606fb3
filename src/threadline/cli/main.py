"""The ``threadline`` command.

Global options come before the sub-command, the way the official Codex SDK
launches its binary: ``threadline --config k=v … app-server --listen stdio://``.
Each command group lives in its own module and is registered in :func:`build_app`.
"""

from __future__ import annotations

import logging
import os
import sys
import tomllib
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from threadline import __version__

__all__ = ["GlobalOptions", "app", "build_app", "main", "parse_override"]


@dataclass(frozen=True)
class GlobalOptions:
    """Options given before the sub-command, available as ``ctx.obj`` in every command."""

    config_overrides: tuple[str, ...] = ()
    """The raw ``-c/--config key=value`` strings, in order."""
    profile: str | None = None
    parsed_overrides: tuple[tuple[str, Any], ...] = field(default=())
    """``config_overrides`` split into (dotted key, value) pairs (see :func:`parse_override`)."""


def parse_override(raw: str) -> tuple[str, Any]:
    """``key=value`` → ``(key, value)``; the value is parsed as TOML when it can be, else a string.

    ``model="o3"`` → ``("model", "o3")``; ``sandbox_workspace_write.network_access=true``
    → ``(…, True)``; ``model=o3`` (not valid TOML) → ``("model", "o3")``.
    """
    key, sep, value = raw.partition("=")
    key = key.strip()
    if not sep or not key:
        raise typer.BadParameter(f"expected key=value, got {raw!r}", param_hint="--config")
    text = value.strip()
    try:
        parsed: Any = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = text
    return key, parsed


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"threadline {__version__}")
        raise typer.Exit()


def _configure_logging() -> None:
    level_name = os.environ.get("THREADLINE_LOG", "WARNING").upper()
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level_name, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def build_app() -> typer.Typer:
    cli = typer.Typer(
        name="threadline",
        help="Durable, resumable agent threads, served over the Codex app-server v2 protocol.",
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @cli.callback()
    def root(
        ctx: typer.Context,
        config: Annotated[
            list[str] | None,
            typer.Option(
                "--config",
                "-c",
                metavar="KEY=VALUE",
                help="Override a config value (repeatable). VALUE is parsed as TOML, else taken as a string.",
            ),
        ] = None,
        profile: Annotated[
            str | None, typer.Option("--profile", "-p", help="Config profile to use.")
        ] = None,
        version: Annotated[
            bool,
            typer.Option(
                "--version", callback=_version_callback, is_eager=True, help="Print the version."
            ),
        ] = False,
    ) -> None:
        _configure_logging()
        raw = tuple(config or ())
        ctx.obj = GlobalOptions(
            config_overrides=raw,
            profile=profile,
            parsed_overrides=tuple(parse_override(item) for item in raw),
        )

    from threadline.cli import app_server

    app_server.register(cli)
    return cli


app = build_app()


def main() -> None:
    """Console-script entry point."""
    app()
