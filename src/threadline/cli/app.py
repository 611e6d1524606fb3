"""The ``threadline`` typer application (every command; see :mod:`threadline.cli.main`)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from threadline import __version__
from threadline.cli.options import shared_options

__all__ = ["build_app"]


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
    @shared_options
    def root(
        ctx: typer.Context,
        version: Annotated[
            bool,
            typer.Option(
                "--version", callback=_version_callback, is_eager=True, help="Print the version."
            ),
        ] = False,
    ) -> None:
        _configure_logging()

    from threadline.cli import app_server, exec_cmd, mcp_server, threads

    exec_cmd.register(cli)
    threads.register(cli)
    app_server.register(cli)
    mcp_server.register(cli)
    return cli
