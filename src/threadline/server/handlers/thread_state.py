"""Handlers of the ``thread_state`` methods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel

HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""

__all__ = ["HANDLERS"]
