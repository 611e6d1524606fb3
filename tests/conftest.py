"""Shared fixtures: the real app-server as a subprocess, with schema-checked messages."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _hermetic_home() -> None:
    """Point ``HOME`` at an empty directory for this test process and everything it starts.

    Commands the agent runs go through login shells (``bash -lc``), and a login shell
    reads the developer's ``~/.profile``. On the CI machine that profile runs
    ``pyenv init``, whose ``pyenv rehash`` takes a lock file and waits up to 60 s for
    it; a test that kills a shell at the wrong moment leaves the lock behind and every
    later login shell of the run then stalls for a minute. The suite tests threadline,
    not the machine's dotfiles, so its shells start from a home with nothing but the
    git identity (tests make commits).
    """
    real = Path(os.environ.get("HOME") or Path.home())
    home = Path(tempfile.mkdtemp(prefix="threadline-test-home-"))
    gitconfig = real / ".gitconfig"
    if gitconfig.is_file():
        shutil.copyfile(gitconfig, home / ".gitconfig")
    os.environ["HOME"] = str(home)
    atexit.register(shutil.rmtree, home, ignore_errors=True)


_hermetic_home()

from tests.support.appserver import AppServerProcess, start_app_server  # noqa: E402
from tests.support.schema import SchemaRegistry, registry  # noqa: E402

AppServerFactory = Callable[..., Awaitable[AppServerProcess]]

OFFLINE_CONFIG = """\
model_provider = "mock"
model = "mock-model"

[model_providers.mock]
name = "Unreachable mock"
base_url = "http://127.0.0.1:9/v1"
wire_api = "responses"
request_max_retries = 0
"""
"""The default ``config.toml`` of a fixture-made home: a mock provider on a closed
loopback port, so the embedded local model is never loaded and nothing leaves the host."""


@pytest.fixture(scope="session")
def schema() -> SchemaRegistry:
    """The reference schema (fails loudly when the reference directory is missing)."""
    return registry()


def offline_home(home: Path) -> Path:
    """``home`` (created if needed) holding :data:`OFFLINE_CONFIG` unless it has a config."""
    home.mkdir(exist_ok=True)
    config = home / "config.toml"
    if not config.exists():
        config.write_text(OFFLINE_CONFIG, encoding="utf-8")
    return home


class _CheckedServer(Protocol):
    async def stop(self) -> None: ...

    def violations(self) -> Sequence[object]: ...


async def stop_and_check(servers: Sequence[_CheckedServer]) -> None:
    """Stop every server, then fail the test if any sent a message the schema rejects."""
    problems: list[str] = []
    for server in servers:
        await server.stop()
        problems += [str(v) for v in server.violations()]
    if problems:
        pytest.fail("server sent non-conforming messages:\n" + "\n".join(problems[:5]))


@pytest_asyncio.fixture
async def app_server(tmp_path: Path, schema: SchemaRegistry) -> AsyncIterator[AppServerFactory]:
    """Factory: ``await app_server(transport="stdio"|"ws", home=…, env=…, config=[…], args=[…],
    initialize=True, **client_info)`` → :class:`AppServerProcess`.

    ``home`` defaults to a fresh ``tmp_path/"home"`` (THREADLINE_HOME) holding
    :data:`OFFLINE_CONFIG`; pass your own ``home`` (with its ``config.toml``) to point
    the server at a live mock model.
    Every server→client message is validated; any violation fails the test at
    teardown even if the test never looked at that message.
    """
    started: list[AppServerProcess] = []

    async def start(**kwargs: Any) -> AppServerProcess:
        home = kwargs.pop("home", None)
        if home is None:
            home = offline_home(tmp_path / f"home{len(started) or ''}")
        server = await start_app_server(home=Path(home), **kwargs)
        started.append(server)
        return server

    yield start
    await stop_and_check(started)


@pytest_asyncio.fixture
async def stdio_server(app_server: AppServerFactory) -> AppServerProcess:
    """A started, initialized stdio server (``stdio_server.client`` is the connection)."""
    return await app_server()
