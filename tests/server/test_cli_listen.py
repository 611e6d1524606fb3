"""``threadline app-server`` options: --listen forms, help, refusal of bad values."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from tests.support.appserver import server_argv, server_env

from threadline.cli.app_server import parse_listen


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("stdio://", ("stdio", None, None)),
        ("off", ("off", None, None)),
        ("ws://127.0.0.1:8765", ("ws", "127.0.0.1", 8765)),
        ("ws://:8765", ("ws", "127.0.0.1", 8765)),
        ("ws://[::1]:0", ("ws", "::1", 0)),
    ],
)
def test_listen_forms(value: str, parsed: tuple[str, str | None, int | None]) -> None:
    assert parse_listen(value) == parsed


@pytest.mark.parametrize("value", ["ws://127.0.0.1", "http://127.0.0.1:1", "ws://h:99999", "tcp"])
def test_bad_listen_values(value: str) -> None:
    with pytest.raises(typer.BadParameter, match="expected stdio://, ws://IP:PORT or off"):
        parse_listen(value)


async def run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    argv = server_argv("off")
    argv = argv[: argv.index("--listen")] + list(args)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(tmp_path),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_help_names_every_option(tmp_path: Path) -> None:
    rc, out, _ = await run(tmp_path, "--help")
    assert rc == 0
    for option in ("--listen", "stdio://", "ws://IP:PORT", "--ws-token-file", "/readyz"):
        assert option in out


async def test_listen_off_and_bad_listen(tmp_path: Path) -> None:
    assert (await run(tmp_path, "--listen", "off"))[0] == 0
    rc, out, err = await run(tmp_path, "--listen", "tcp://1.2.3.4:5")
    assert rc == 2 and out == ""
    assert "expected stdio://" in err
