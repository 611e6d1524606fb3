"""``thread/compact/start``: compact a thread's history now, as a turn of its own."""

from __future__ import annotations

from threadline.protocol.v2.thread_ops import (
    ThreadCompactStartParams,
    ThreadCompactStartResponse,
)
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime

__all__ = ["thread_compact_start"]


async def thread_compact_start(
    rt: Runtime, ctx: RequestContext, p: ThreadCompactStartParams
) -> ThreadCompactStartResponse:
    """Answer at once; the compaction turn reports itself (``turn/started``, the
    ``contextCompaction`` item, ``turn/completed``) to the thread's subscribers."""
    thread = rt.manager.get(p.thread_id)
    rt.router.subscribe(ctx.connection_id, thread.id)
    thread.compact()
    return ThreadCompactStartResponse()
