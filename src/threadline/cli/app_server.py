"""``threadline app-server``: serve the v2 JSON-RPC protocol on stdio or a websocket."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threadline.cli.listen import parse_ws_listen
from threadline.cli.options import shared_options
from threadline.cli.serve import run_event_loop, serve
from threadline.core.manager import ThreadManager
from threadline.protocol.net import is_loopback_host
from threadline.server import AppServer, build_app_server
from threadline.server.transports.websocket import token_digest

DEFAULT_LISTEN = "stdio://"


def parse_listen(value: str) -> tuple[str, str | None, int | None]:
    """``stdio://`` → ("stdio", None, None); ``ws://HOST:PORT`` → ("ws", host, port);
    ``ws://:PORT`` → ("ws", "127.0.0.1", port); ``off`` → ("off", None, None)."""
    if value in ("stdio://", "stdio", "-"):
        return "stdio", None, None
    if value == "off":
        return "off", None, None
    address = parse_ws_listen(value)
    if address is None:
        raise typer.BadParameter(
            f"expected stdio://, ws://IP:PORT or off, got {value!r}", param_hint="--listen"
        )
    return "ws", address[0], address[1]


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc}", param_hint="--ws-token-file"
        ) from exc
    if not token:
        raise typer.BadParameter(f"{path} is empty", param_hint="--ws-token-file")
    return token


def websocket_token_digest(
    ws_auth: str | None, token_file: Path | None, token_sha256: str | None
) -> bytes | None:
    """The SHA-256 digest clients' bearer tokens must match, or ``None`` (no auth).

    ``--ws-token-file`` (the token itself) or ``--ws-token-sha256`` (its hex digest) turn
    capability-token auth on; ``--ws-auth capability-token`` is accepted for Codex
    command-line compatibility and then requires one of the two.
    """
    if ws_auth is not None and ws_auth != "capability-token":
        raise typer.BadParameter(
            f"only capability-token is supported, got {ws_auth!r}", param_hint="--ws-auth"
        )
    if token_file is not None and token_sha256 is not None:
        raise typer.BadParameter(
            "give either --ws-token-file or --ws-token-sha256, not both",
            param_hint="--ws-token-file",
        )
    if token_file is not None:
        return token_digest(_read_token(token_file))
    if token_sha256 is not None:
        try:
            digest = bytes.fromhex(token_sha256.strip())
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise typer.BadParameter(
                "expected 64 hex digits (a SHA-256 digest)", param_hint="--ws-token-sha256"
            )
        return digest
    if ws_auth is not None:
        raise typer.BadParameter(
            "--ws-auth capability-token needs --ws-token-file or --ws-token-sha256",
            param_hint="--ws-auth",
        )
    return None


def build_server(ctx: typer.Context) -> tuple[AppServer, ThreadManager]:
    """The AppServer for this process and the manager behind it (config overrides are in
    ``ctx.obj``)."""
    from threadline.cli.options import GlobalOptions
    from threadline.core.config import ConfigError, load_config

    opts = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()
    try:
        config = load_config(overrides=opts.config_overrides, profile=opts.profile)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return build_app_server(config)


def app_server(
    ctx: typer.Context,
    listen: Annotated[
        str,
        typer.Option(
            "--listen",
            metavar="URL",
            help="Where to serve. stdio:// (default): one JSON message per line on "
            "stdin/stdout, logs on stderr. ws://IP:PORT: a websocket server, one message "
            "per text frame, GET /readyz and /healthz for probes (port 0 picks a free "
            "port; the URL is printed on stderr). off: serve nothing.",
        ),
    ] = DEFAULT_LISTEN,
    ws_token_file: Annotated[
        Path | None,
        typer.Option(
            "--ws-token-file",
            metavar="PATH",
            help="Websocket only: clients must send 'Authorization: Bearer <token>' where "
            "<token> is this file's content. Required to listen on a non-loopback address.",
        ),
    ] = None,
    ws_token_sha256: Annotated[
        str | None,
        typer.Option(
            "--ws-token-sha256",
            metavar="HEX",
            help="Like --ws-token-file, but give the SHA-256 hex digest of the token.",
        ),
    ] = None,
    ws_auth: Annotated[
        str | None,
        typer.Option(
            "--ws-auth",
            metavar="MODE",
            help="Websocket auth mode; only 'capability-token' (what --ws-token-file "
            "implies). Accepted so Codex command lines work unchanged.",
        ),
    ] = None,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Serve on stdio (the same as --listen stdio://).")
    ] = False,
    analytics_default_enabled: Annotated[
        bool,
        typer.Option(
            "--analytics-default-enabled",
            help="Accepted so Codex command lines (the VS Code extension passes it) work "
            "unchanged; threadline collects no analytics.",
        ),
    ] = False,
) -> None:
    """Serve the Codex app-server v2 JSON-RPC protocol (what Codex IDE extensions and SDKs speak).

    Threads, rollouts and the index live in $THREADLINE_HOME (default ~/.threadline).
    Examples: 'threadline app-server' (stdio), 'threadline app-server --listen
    ws://127.0.0.1:8765 --ws-token-file ~/.threadline/ws-token'.
    """
    kind, host, port = parse_listen(listen)
    if stdio and kind != "stdio":
        raise typer.BadParameter(
            f"--stdio contradicts --listen {listen}; give one of them", param_hint="--stdio"
        )
    digest = websocket_token_digest(ws_auth, ws_token_file, ws_token_sha256)
    if kind == "ws" and host is not None and not is_loopback_host(host) and digest is None:
        typer.echo(
            f"error: refusing to listen on non-loopback address {host} without --ws-token-file",
            err=True,
        )
        raise typer.Exit(2)
    if kind == "off":
        return
    server, manager = build_server(ctx)
    run_event_loop(serve(server, manager, kind, host, port, digest))


def register(cli: typer.Typer) -> None:
    cli.command(
        "app-server",
        short_help="Serve the Codex app-server v2 JSON-RPC protocol on stdio or a websocket.",
    )(shared_options(app_server))
