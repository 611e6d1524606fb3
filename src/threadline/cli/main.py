"""The ``threadline`` command.

Global options come before the sub-command, the way the official Codex SDK
launches its binary: ``threadline --config k=v … app-server --listen stdio://``.
Each command group lives in its own module and is registered in :func:`build_app`.

Exit codes: 0 success, 1 a failed turn or operation, 2 a usage or configuration
error, 130 a turn interrupted with Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from threadline import __version__
from threadline.core.config import ConfigError
from threadline.core.config import parse_override as _parse_config_override

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
    """``key=value`` → ``(dotted key, value)``; the value is TOML when it parses, else a string.

    ``model="o3"`` and ``model=o3`` both give ``("model", "o3")``;
    ``sandbox_workspace_write.network_access=true`` gives ``(…, True)``.
    Raises :class:`~threadline.core.config.ConfigError` for a malformed override.
    """
    path, value = _parse_config_override(raw)
    return ".".join(path), value


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
        pretty_exceptions_enable=False,
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
        try:
            parsed = tuple(parse_override(item) for item in raw)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        ctx.obj = GlobalOptions(config_overrides=raw, profile=profile, parsed_overrides=parsed)

    from threadline.cli import app_server, exec_cmd, threads

    exec_cmd.register(cli)
    threads.register(cli)
    app_server.register(cli)
    return cli


app = build_app()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside a turn (a turn handles it itself)
        sys.stderr.write("interrupted\n")
        sys.exit(130)
