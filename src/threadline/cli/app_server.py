"""``threadline app-server``: serve the v2 JSON-RPC protocol on stdio or a websocket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from threadline.core.manager import ThreadManager
from threadline.server import AppServer, build_method_table
from threadline.server.transports.websocket import ListenAddress, is_loopback

DEFAULT_LISTEN = "stdio://"


def threadline_home() -> Path:
    """``$THREADLINE_HOME``, else ``~/.threadline``."""
    env = os.environ.get("THREADLINE_HOME")
    return Path(env).expanduser().absolute() if env else Path.home() / ".threadline"


def parse_listen(value: str) -> tuple[str, str | None, int | None]:
    """``stdio://`` → ("stdio", None, None); ``ws://HOST:PORT`` → ("ws", host, port); ``off``."""
    if value in ("stdio://", "stdio", "-"):
        return "stdio", None, None
    if value == "off":
        return "off", None, None
    parts = urlsplit(value)
    if parts.scheme != "ws" or not parts.hostname or parts.port is None:
        raise typer.BadParameter(
            f"expected stdio://, ws://IP:PORT or off, got {value!r}", param_hint="--listen"
        )
    return "ws", parts.hostname, parts.port


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


def build_server(ctx: typer.Context) -> AppServer:
    """The AppServer for this process (config overrides are in ``ctx.obj``)."""
    from threadline.cli.main import GlobalOptions
    from threadline.core.config import ConfigError, load_config
    from threadline.server.handlers import build_runtime

    opts = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()
    try:
        config = load_config(overrides=opts.config_overrides, profile=opts.profile)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    manager = ThreadManager(config)
    server = AppServer(build_method_table(manager), home=config.home)
    build_runtime(server, manager)
    return server


def _announce(address: ListenAddress) -> None:
    print(f"listening on: {address.url}", file=sys.stderr, flush=True)
    print(f"readyz: {address.http_base}/readyz", file=sys.stderr, flush=True)
    print(f"healthz: {address.http_base}/healthz", file=sys.stderr, flush=True)
    if is_loopback(address.host):
        print("note: binds localhost only", file=sys.stderr, flush=True)


async def _serve(
    server: AppServer, kind: str, host: str | None, port: int | None, token: str | None
) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, server.shutdown)
    if kind == "stdio":
        await server.serve_stdio()
    else:
        assert host is not None and port is not None
        await server.serve_websocket(host, port, token=token, on_listening=_announce)


def app_server(
    ctx: typer.Context,
    listen: Annotated[
        str,
        typer.Option(
            "--listen",
            metavar="URL",
            help="stdio:// (JSON lines on stdin/stdout), ws://IP:PORT (port 0 picks a free one), or off.",
        ),
    ] = DEFAULT_LISTEN,
    ws_token_file: Annotated[
        Path | None,
        typer.Option(
            "--ws-token-file",
            metavar="PATH",
            help="Websocket clients must send 'Authorization: Bearer <token in this file>'. "
            "Required to listen on a non-loopback address.",
        ),
    ] = None,
) -> None:
    """Run the app-server (the protocol Codex IDE extensions and SDKs speak)."""
    kind, host, port = parse_listen(listen)
    token = _read_token(ws_token_file) if ws_token_file is not None else None
    if kind == "ws" and host is not None and not is_loopback(host) and token is None:
        typer.echo(
            f"error: refusing to listen on non-loopback address {host} without --ws-token-file",
            err=True,
        )
        raise typer.Exit(2)
    if kind == "off":
        return
    server = build_server(ctx)
    asyncio.run(_serve(server, kind, host, port, token))


def register(cli: typer.Typer) -> None:
    cli.command(
        "app-server",
        help="Serve the Codex app-server v2 JSON-RPC protocol on stdio or a websocket.",
    )(app_server)
