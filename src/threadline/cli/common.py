"""Helpers shared by the CLI commands: config loading, error exits, consoles."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import typer
from rich.console import Console

from threadline.cli.serve import run_event_loop
from threadline.core.config import Config, ConfigError, load_config
from threadline.core.errors import CoreError, InvalidRequest
from threadline.core.manager import ThreadManager
from threadline.core.storage import StoreError

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: message`` on stderr and leave with ``code``."""
    err_console().print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def err_console() -> Console:
    """Rich output on stderr (progress, notices, usage); plain text when not a terminal."""
    return Console(stderr=True, highlight=False)


def out_console() -> Console:
    """Rich output on stdout; wide enough when piped that tables are not squeezed."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=200, no_color=True)


def cli_config(ctx: typer.Context) -> Config:
    """The effective config for this invocation; a bad config exits 2 with a readable message."""
    from threadline.cli.options import GlobalOptions

    opts = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()
    try:
        return load_config(overrides=opts.config_overrides, profile=opts.profile)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


def run_with_manager(config: Config, body: Callable[[ThreadManager], Awaitable[T]]) -> T:
    """Run ``body(manager)`` on a fresh event loop and always shut the manager down.

    Core errors become ``error: …`` with exit code 1 (2 for an invalid request
    made before anything ran, e.g. an unknown provider).
    """

    async def go() -> T:
        manager = ThreadManager(config)
        try:
            return await body(manager)
        finally:
            await manager.shutdown()

    try:
        return run_event_loop(go())
    except InvalidRequest as exc:
        fail(exc.message, EXIT_USAGE)
    except CoreError as exc:
        fail(exc.message, EXIT_FAILED)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    except StoreError as exc:
        fail(exc.message, EXIT_FAILED)
    except OSError as exc:
        fail(str(exc), EXIT_FAILED)
