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

import gc
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from threadline.cli.app import build_app
    from threadline.cli.options import GlobalOptions, parse_override

    app: typer.Typer

__all__ = ["GlobalOptions", "app", "build_app", "main", "parse_override"]


def __getattr__(name: str) -> Any:
    """``app`` (the typer application) and the option helpers, built on first use: the
    ``app-server`` fast path never needs them."""
    if name == "app":
        from threadline.cli.app import build_app

        built = build_app()
        globals()["app"] = built
        return built
    if name == "build_app":
        from threadline.cli import app

        return app.build_app
    if name in ("GlobalOptions", "parse_override"):
        from threadline.cli import options

        return getattr(options, name)
    raise AttributeError(name)


def main() -> None:
    """Console-script entry point.

    The collector is off while the command imports its modules (they live as long as the
    process; ``cli.serve.settle_heap`` freezes them and turns it back on before serving)
    and the usual ``app-server`` command lines skip typer (``cli.fast``).
    """
    gc.disable()
    try:
        from threadline.cli.fast import fast_app_server

        if fast_app_server(sys.argv[1:]):
            return
        gc.enable()
        __getattr__("app")()
    except KeyboardInterrupt:  # Ctrl-C outside a turn (a turn handles it itself)
        sys.stderr.write("interrupted\n")
        sys.exit(130)
