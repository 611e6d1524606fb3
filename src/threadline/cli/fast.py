"""The usual ``threadline app-server`` command lines, started without typer.

IDE extensions and SDKs start ``threadline [shared options] app-server [options]`` every time
they open a session; building the typer application (and the rich console it brings) costs
that start tens of milliseconds before the first request is read. :func:`fast_app_server`
recognises the command lines clients actually use and serves them directly. Anything else
(help, a token file, an option it does not know, a value it cannot read) returns ``False``
and the full command line interface takes over, with its usual messages.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

_FEATURE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_SHARED_VALUE = {"-c": "config", "--config": "config", "--enable": "enable",
                 "--disable": "disable", "-p": "profile", "--profile": "profile"}
_OWN_VALUE = {"--listen"}
_OWN_FLAGS = {"--stdio", "--analytics-default-enabled"}


class _Unusual(Exception):
    """The command line is not one the fast path serves."""


def _split(arg: str) -> tuple[str, str | None]:
    if arg.startswith("--") and "=" in arg:
        name, value = arg.split("=", 1)
        return name, value
    return arg, None


def parse(argv: Sequence[str]) -> tuple[tuple[str, ...], str | None, str, bool]:
    """(config overrides in order, profile, listen URL, --stdio) of an ``app-server`` command
    line; raises `_Unusual` for anything the fast path leaves to the full interface."""
    overrides: list[str] = []
    profile: str | None = None
    listen = "stdio://"
    stdio = False
    seen_command = False
    args = list(argv)
    i = 0
    while i < len(args):
        name, value = _split(args[i])
        i += 1
        if name == "app-server" and not seen_command:
            seen_command = True
            continue
        kind = _SHARED_VALUE.get(name)
        if kind is not None or (seen_command and name in _OWN_VALUE):
            if value is None:
                if i >= len(args):
                    raise _Unusual
                value = args[i]
                i += 1
            if kind == "config":
                overrides.append(value)
            elif kind in ("enable", "disable"):
                if not _FEATURE_NAME.fullmatch(value):
                    raise _Unusual
                overrides.append(f"features.{value}={'true' if kind == 'enable' else 'false'}")
            elif kind == "profile":
                if not value.strip():
                    raise _Unusual
                profile = value
            else:
                listen = value
            continue
        if seen_command and name in _OWN_FLAGS and value is None:
            stdio = stdio or name == "--stdio"
            continue
        raise _Unusual
    if not seen_command:
        raise _Unusual
    return tuple(overrides), profile, listen, stdio


def fast_app_server(argv: Sequence[str]) -> bool:
    """Serve ``app-server`` for ``argv`` (the arguments after the program name) and return
    ``True``; ``False`` without side effects when the full interface should handle it."""
    if "app-server" not in argv:
        return False
    try:
        overrides, profile, listen, stdio = parse(argv)
    except _Unusual:
        return False
    if listen in ("stdio://", "stdio", "-"):
        kind, host, port = "stdio", None, None
    elif listen.startswith("ws://"):
        from threadline.cli.listen import parse_ws_listen
        from threadline.protocol.net import is_loopback_host

        address = parse_ws_listen(listen)
        if address is None or not is_loopback_host(address[0]):
            return False  # bad URLs and non-loopback (token) rules: the full interface
        kind, (host, port) = "ws", address
    else:
        return False
    if stdio and kind != "stdio":
        return False
    from threadline.cli.pydantic_plugins import skip_plugin_lookup

    skip_plugin_lookup()  # before the first model is built
    from threadline.core.config import ConfigError, load_config, parse_override

    try:
        for raw in overrides:
            parse_override(raw)
    except ConfigError:
        return False
    _configure_logging()
    try:
        config = load_config(overrides=overrides, profile=profile)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc
    from threadline.cli.serve import run_event_loop, serve
    from threadline.server import build_app_server

    server, manager = build_app_server(config)
    run_event_loop(serve(server, manager, kind, host, port, None))
    return True


def _configure_logging() -> None:
    import logging
    import os

    level_name = os.environ.get("THREADLINE_LOG", "WARNING").upper()
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level_name, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
