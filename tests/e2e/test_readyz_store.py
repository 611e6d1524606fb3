"""``/readyz`` reports the store: a server on PostgreSQL is not ready while its database is
unreachable, and ready again once it is back; ``/healthz`` only says the process is up."""

from __future__ import annotations

import asyncio

import pytest
from tests.conftest import AppServerFactory
from tests.server.test_websocket import http_get
from tests.support.postgres import start_cluster


async def _readyz(url: str, want: int) -> tuple[int, str]:
    """Poll ``/readyz`` (bounded) until it answers ``want``; the last answer."""
    answer = (0, "")
    for _ in range(150):
        answer = await http_get(url, "/readyz")
        if answer[0] == want:
            break
        await asyncio.sleep(0.1)
    return answer


async def test_readyz_follows_the_database(app_server: AppServerFactory) -> None:
    cluster = await asyncio.to_thread(start_cluster)
    if cluster is None:
        pytest.skip("PostgreSQL is not installed")
    try:
        url = await asyncio.to_thread(cluster.new_database, "ready")
        server = await app_server(transport="ws", env={"THREADLINE_STORE_URL": url})
        assert server.url is not None
        status, body = await _readyz(server.url, 200)
        assert (status, body.strip()) == (200, "ok")
        await asyncio.to_thread(cluster.pause)
        status, body = await _readyz(server.url, 503)
        assert status == 503 and body.startswith("not ready:"), (status, body)
        assert (await http_get(server.url, "/healthz"))[0] == 200
        await asyncio.to_thread(cluster.resume)
        status, body = await _readyz(server.url, 200)
        assert (status, body.strip()) == (200, "ok")
    finally:
        await asyncio.to_thread(cluster.stop)
