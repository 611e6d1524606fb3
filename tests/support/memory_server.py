"""In-process harness: the REAL app-server, built by ``build_app_server``, on the in-memory
transport (``threadline.server.transports.memory``).

The server runs in the test's event loop with a real ``ThreadManager``, the real store in
a tmp home and whatever model that home's ``config.toml`` names (a mock model server on
127.0.0.1, or the fixtures' unreachable one). Clients are the subprocess harness's
:class:`~tests.support.appserver.AppServerClient`, so every server→client message is
schema-checked on arrival and the same request/wait helpers apply; only the transport
differs (JSON values instead of lines or frames: raw text, framing and bytes that are not
UTF-8 belong to the subprocess tests of each transport).

Typical use (through the ``in_process`` / ``memory_server`` fixtures in
``tests/server/conftest.py``)::

    server = await memory_server()                    # one initialized connection
    result = await server.client.request("thread/loaded/list", {})
    other = await server.connect()                    # a second connection
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.appserver import AppServerClient
from tests.support.schema import SchemaViolation

from threadline.core.config import load_config
from threadline.server import AppServer, build_app_server
from threadline.server.transports.memory import MemoryClientChannel, memory_pair

__all__ = ["InProcessServer", "MemoryServerFactory"]


class InProcessServer:
    """One app-server in this process; :meth:`connect` opens in-memory connections."""

    def __init__(self, home: Path, *, test_methods: bool = True) -> None:
        self.home = home
        self.server: AppServer
        self.server, self.manager = build_app_server(
            load_config(home=home), test_methods=test_methods
        )
        self.clients: list[AppServerClient] = []
        self._ends: dict[int, MemoryClientChannel] = {}
        self._serving: dict[int, asyncio.Task[None]] = {}
        self._pumps: list[asyncio.Task[None]] = []

    @property
    def client(self) -> AppServerClient:
        """The first connection."""
        assert self.clients, "no connection yet: use connect()"
        return self.clients[0]

    async def connect(self, *, initialize: bool = True, **init: Any) -> AppServerClient:
        """Open a new connection (initialized unless ``initialize=False``)."""
        server_end, client_end = memory_pair()

        async def send_text(text: str) -> None:
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise AssertionError(
                    "the memory transport carries JSON values; test raw text over a real "
                    "transport (tests/support/appserver.py)"
                ) from exc
            client_end.send(value)

        client = AppServerClient(f"memory-{len(self.clients) + 1}", send_text)
        self._ends[id(client)] = client_end
        self._serving[id(client)] = asyncio.create_task(self.server.serve_channel(server_end))

        async def pump() -> None:
            while (message := await client_end.receive(timeout=None)) is not None:
                await client.on_text(json.dumps(message))
            await client.on_closed()

        self._pumps.append(asyncio.create_task(pump()))
        self.clients.append(client)
        if initialize:
            await client.initialize(**init)
        return client

    def serving(self, client: AppServerClient) -> bool:
        """Whether the server still serves ``client``'s connection."""
        return not self._serving[id(client)].done()

    async def disconnect(self, client: AppServerClient) -> None:
        """Close ``client``'s end; the server finishes what it queued and ends the connection."""
        self._ends[id(client)].close()
        await asyncio.wait_for(self._serving[id(client)], 10)
        if not client.closed:
            await client.on_closed()

    async def stop(self) -> None:
        """Close every connection, then shut the manager down (as the CLI does)."""
        for client in self.clients:
            with contextlib.suppress(Exception):
                await self.disconnect(client)
        for task in [*self._serving.values(), *self._pumps]:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self.manager.shutdown()

    def violations(self) -> list[SchemaViolation]:
        return [v for c in self.clients for v in c.violations]


MemoryServerFactory = Callable[..., Awaitable[InProcessServer]]
"""The ``memory_server`` fixture: ``await memory_server(home=…, initialize=True,
test_methods=True, **client_info)``."""
