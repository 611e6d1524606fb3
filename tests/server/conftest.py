"""Fixtures of the server tests: the real app-server in-process on the in-memory transport.

The subprocess fixtures (``app_server``, ``stdio_server`` in ``tests/conftest.py``) stay
for what only a real transport or process shows: framing, bytes, websocket handshakes,
probes and auth, stdout/stderr, exit codes and signals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from tests.conftest import offline_home, stop_and_check
from tests.support.memory_server import InProcessServer, MemoryServerFactory
from tests.support.schema import SchemaRegistry


@pytest_asyncio.fixture
async def memory_server(
    tmp_path: Path, schema: SchemaRegistry
) -> AsyncIterator[MemoryServerFactory]:
    """Factory: ``await memory_server(home=…, initialize=True, test_methods=True,
    **client_info)`` → :class:`InProcessServer` with one connection (``.client``).

    ``home`` defaults to a fresh ``tmp_path/"home"`` holding :data:`OFFLINE_CONFIG`.
    The test-only methods (``test/sleep``, ``test/raise``, ``test/notify``,
    ``test/serverRequest``) are served unless ``test_methods=False``. Every
    server→client message is validated; a violation fails the test at teardown.
    """
    started: list[InProcessServer] = []

    async def start(
        *, home: Path | None = None, initialize: bool = True, test_methods: bool = True, **init: Any
    ) -> InProcessServer:
        if home is None:
            home = offline_home(tmp_path / f"home{len(started) or ''}")
        server = InProcessServer(home, test_methods=test_methods)
        started.append(server)
        await server.connect(initialize=initialize, **init)
        return server

    yield start
    await stop_and_check(started)


@pytest_asyncio.fixture
async def in_process(memory_server: MemoryServerFactory) -> InProcessServer:
    """A started in-process server with one initialized connection (``in_process.client``)."""
    return await memory_server()
