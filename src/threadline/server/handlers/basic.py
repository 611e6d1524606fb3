"""Handlers that need no thread runtime: loaded-thread listing, account, test helpers."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from threadline.core.manager import ThreadManager
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.errors import RpcError

TEST_SLOW_METHOD = "test/sleep"
"""Registered only when ``THREADLINE_TEST_SLOW_METHOD=1``: sleeps ``ms`` milliseconds
(at most 10 s) and answers ``{"sleptMs": ms}``. Used by the overload tests."""

TEST_RAISE_METHOD = "test/raise"
"""Test-only (same switch): raises ``RuntimeError(message)``, to prove a failing
handler is answered with ``-32603`` and the connection keeps serving."""

TEST_NOTIFY_METHOD = "test/notify"
"""Test-only (same switch): sends the notification ``{method, params}`` to this
connection (subject to its opt-outs) and answers ``{"sent": bool}``."""

TEST_SERVER_REQUEST_METHOD = "test/serverRequest"
"""Test-only (same switch): sends the server→client request ``{method, params}`` on
this connection, waits for the client's answer and returns it as
``{"result": …}`` or ``{"error": {code, message}}``."""


class _Params(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ThreadLoadedListParams(_Params):
    cursor: str | None = None
    limit: int | None = Field(default=None, ge=0)


class GetAccountParams(_Params):
    refresh_token: bool = False


class SleepParams(_Params):
    ms: int = Field(default=0, ge=0, le=10_000)


class RaiseParams(_Params):
    message: str = "boom"


class NotifyParams(_Params):
    method: str
    params: dict[str, Any] = Field(default_factory=dict)


class ServerRequestParams(_Params):
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: int = Field(default=5_000, ge=1, le=10_000)


def register_basic(table: MethodTable, manager: ThreadManager) -> None:
    """``thread/loaded/list`` and ``account/read``."""

    async def loaded_list(ctx: RequestContext, params: ThreadLoadedListParams) -> dict[str, Any]:
        ids = manager.list_loaded()
        start = 0
        if params.cursor is not None and params.cursor in ids:
            start = ids.index(params.cursor) + 1
        page = ids[start:] if params.limit is None else ids[start : start + params.limit]
        more = params.limit is not None and start + len(page) < len(ids)
        return {"data": page, "nextCursor": page[-1] if more and page else None}

    async def account_read(ctx: RequestContext, params: GetAccountParams) -> dict[str, Any]:
        # No account system: nothing to log in to, and no OpenAI auth needed.
        return {"account": None, "userId": None, "requiresOpenaiAuth": False}

    table.register("thread/loaded/list", ThreadLoadedListParams, loaded_list)
    table.register("account/read", GetAccountParams, account_read)


def register_test_methods(table: MethodTable) -> None:
    """Test-only methods (see :data:`TEST_SLOW_METHOD`, :data:`TEST_RAISE_METHOD`,
    :data:`TEST_NOTIFY_METHOD`, :data:`TEST_SERVER_REQUEST_METHOD`)."""

    async def sleep(ctx: RequestContext, params: SleepParams) -> dict[str, Any]:
        await asyncio.sleep(params.ms / 1000)
        return {"sleptMs": params.ms}

    async def fail(ctx: RequestContext, params: RaiseParams) -> dict[str, Any]:
        raise RuntimeError(params.message)

    async def notify(ctx: RequestContext, params: NotifyParams) -> dict[str, Any]:
        return {"sent": ctx.connection.send_notification(params.method, params.params)}

    async def server_request(ctx: RequestContext, params: ServerRequestParams) -> dict[str, Any]:
        future = ctx.connection.send_request(params.method, params.params)
        try:
            result = await asyncio.wait_for(future, params.timeout_ms / 1000)
        except RpcError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}
        return {"result": result}

    table.register(TEST_SLOW_METHOD, SleepParams, sleep)
    table.register(TEST_RAISE_METHOD, RaiseParams, fail)
    table.register(TEST_NOTIFY_METHOD, NotifyParams, notify)
    table.register(TEST_SERVER_REQUEST_METHOD, ServerRequestParams, server_request)
