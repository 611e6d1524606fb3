"""Test-only methods, served only with ``THREADLINE_TEST_SLOW_METHOD=1`` in the environment.

They are not part of the protocol, so their params and response types live here and
are registered with :meth:`MethodTable.register_unlisted`. The overload, error and
server-request tests drive a real app-server process with them.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pydantic import ConfigDict, Field

from threadline.protocol.v2.common import WireModel
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.errors import RpcError

__all__ = [
    "TEST_METHODS_ENV",
    "TEST_NOTIFY_METHOD",
    "TEST_RAISE_METHOD",
    "TEST_SERVER_REQUEST_METHOD",
    "TEST_SLOW_METHOD",
    "methods_enabled",
    "register_test_methods",
]

TEST_METHODS_ENV = "THREADLINE_TEST_SLOW_METHOD"

TEST_SLOW_METHOD = "test/sleep"
"""Sleeps ``ms`` milliseconds (at most 10 s) and answers ``{"sleptMs": ms}``. Used by the
overload tests."""

TEST_RAISE_METHOD = "test/raise"
"""Raises ``RuntimeError(message)``, to prove a failing handler is answered with
``-32603`` and the connection keeps serving."""

TEST_NOTIFY_METHOD = "test/notify"
"""Sends the notification ``{method, params}`` to this connection (subject to its
opt-outs) and answers ``{"sent": bool}``."""

TEST_SERVER_REQUEST_METHOD = "test/serverRequest"
"""Sends the server→client request ``{method, params}`` on this connection, waits for the
client's answer and returns it as ``{"result": …}`` or ``{"error": {code, message}}``."""


def methods_enabled() -> bool:
    return os.environ.get(TEST_METHODS_ENV) == "1"


class SleepParams(WireModel):
    ms: int = Field(default=0, ge=0, le=10_000)


class SleepResponse(WireModel):
    slept_ms: int


class RaiseParams(WireModel):
    message: str = "boom"


class NeverResponse(WireModel):
    """``test/raise`` never answers."""


class NotifyParams(WireModel):
    method: str
    params: dict[str, Any] = Field(default_factory=dict)


class NotifyResponse(WireModel):
    sent: bool


class ServerRequestParams(WireModel):
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: int = Field(default=5_000, ge=1, le=10_000)


class ServerRequestResponse(WireModel):
    """Exactly one of ``result`` (any JSON value, ``null`` included) or ``error``."""

    model_config = ConfigDict(extra="allow")


async def sleep(ctx: RequestContext, p: SleepParams) -> SleepResponse:
    await asyncio.sleep(p.ms / 1000)
    return SleepResponse(slept_ms=p.ms)


async def fail(ctx: RequestContext, p: RaiseParams) -> NeverResponse:
    raise RuntimeError(p.message)


async def notify(ctx: RequestContext, p: NotifyParams) -> NotifyResponse:
    return NotifyResponse(sent=ctx.send_notification(p.method, p.params))


async def server_request(ctx: RequestContext, p: ServerRequestParams) -> ServerRequestResponse:
    future = ctx.send_request(p.method, p.params)
    try:
        result = await asyncio.wait_for(future, p.timeout_ms / 1000)
    except RpcError as exc:
        return ServerRequestResponse(error={"code": exc.code, "message": exc.message})
    return ServerRequestResponse(result=result)


def register_test_methods(table: MethodTable) -> None:
    table.register_unlisted(TEST_SLOW_METHOD, SleepParams, SleepResponse, sleep)
    table.register_unlisted(TEST_RAISE_METHOD, RaiseParams, NeverResponse, fail)
    table.register_unlisted(TEST_NOTIFY_METHOD, NotifyParams, NotifyResponse, notify)
    table.register_unlisted(
        TEST_SERVER_REQUEST_METHOD, ServerRequestParams, ServerRequestResponse, server_request
    )
