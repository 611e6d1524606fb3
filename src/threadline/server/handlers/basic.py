"""Handlers that need no thread runtime: loaded-thread listing, account, test helpers."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from threadline.core.manager import ThreadManager
from threadline.server.dispatch import MethodTable, RequestContext

TEST_SLOW_METHOD = "test/sleep"
"""Registered only when ``THREADLINE_TEST_SLOW_METHOD=1``: sleeps ``ms`` milliseconds
(at most 10 s) and answers ``{"sleptMs": ms}``. Used by the overload tests."""


class _Params(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ThreadLoadedListParams(_Params):
    cursor: str | None = None
    limit: int | None = Field(default=None, ge=0)


class GetAccountParams(_Params):
    refresh_token: bool = False


class SleepParams(_Params):
    ms: int = Field(default=0, ge=0, le=10_000)


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
    """Test-only methods (see :data:`TEST_SLOW_METHOD`)."""

    async def sleep(ctx: RequestContext, params: SleepParams) -> dict[str, Any]:
        await asyncio.sleep(params.ms / 1000)
        return {"sleptMs": params.ms}

    table.register(TEST_SLOW_METHOD, SleepParams, sleep)
