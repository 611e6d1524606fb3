"""The ``threadline`` command.

The shared options ``-c/--config``, ``--enable``, ``--disable`` and ``-p/--profile``
work before the sub-command (``threadline -c k=v app-server``, how the official
Codex SDKs launch the binary) and after it (``threadline app-server -c k=v``, how
the ACP bridge does), as with Codex; see :mod:`threadline.cli.options`.
Each command group lives in its own module and is registered in :func:`build_app`.

Exit codes: 0 success, 1 a failed turn or operation, 2 a usage or configuration
error, 130 a turn interrupted with Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from threadline import __version__
from threadline.cli.options import GlobalOptions, parse_override, shared_options

__all__ = ["GlobalOptions", "app", "build_app", "main", "parse_override"]


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


app = build_app()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside a turn (a turn handles it itself)
        sys.stderr.write("interrupted\n")
        sys.exit(130)
