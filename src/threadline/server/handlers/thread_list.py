"""``thread/list``: a client's usual first request, so its module names only the list's
wire types (``protocol.v2.thread``), not those of the other thread methods."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.core.errors import InvalidRequest
from threadline.core.storage import MAX_LIST_LIMIT, ListQuery, ThreadRecord
from threadline.protocol.v2.thread import ThreadListParams, ThreadListResponse
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime, listed_thread, wire_record
from threadline.server.handlers.sections import with_sections

if TYPE_CHECKING:  # core.thread loads with the first thread
    from threadline.core.thread import Thread
    from threadline.protocol.v2.thread import Thread as WireThread

__all__ = ["INTERACTIVE_SOURCES", "thread_list"]

INTERACTIVE_SOURCES = ("cli", "vscode", "atlas", "chatgpt")
"""What ``thread/list`` shows when ``sourceKinds`` is omitted or empty (as Codex does)."""


async def thread_list(rt: Runtime, ctx: RequestContext, p: ThreadListParams) -> ThreadListResponse:
    manager = rt.manager
    limit = p.limit if p.limit is not None else 25
    limit = max(1, min(MAX_LIST_LIMIT, limit))
    sort_key = p.sort_key or "created_at"
    if sort_key not in ("created_at", "updated_at"):
        raise InvalidRequest(f"unsupported sortKey `{sort_key}`; expected created_at or updated_at")
    if p.model_providers is None:
        providers: tuple[str, ...] | None = (manager.default_provider_id(),)
    elif p.model_providers:
        providers = tuple(p.model_providers)
    else:
        providers = None
    kinds = tuple(p.source_kinds) if p.source_kinds else INTERACTIVE_SOURCES
    cwds: tuple[str, ...] | None
    if p.cwd is None:
        cwds = None
    elif isinstance(p.cwd, str):
        cwds = (p.cwd,)
    else:
        cwds = tuple(p.cwd)
    page = await manager.list_threads(
        ListQuery(
            limit=limit,
            cursor=p.cursor,
            sort_key=sort_key,  # type: ignore[arg-type]
            sort_direction=p.sort_direction or "desc",
            model_providers=providers,
            source_kinds=kinds,
            archived=bool(p.archived),
            cwds=cwds,
            search_term=p.search_term or None,
            excluded_ids=tuple(p.excluded_thread_ids or ()),
            included_ids=(
                tuple(i.strip().lower() for i in p.included_thread_ids)
                if p.included_thread_ids is not None
                else None
            ),
        )
    )
    return ThreadListResponse(
        data=await with_sections(rt, [_listed(r, manager.find(r.id)) for r in page.records]),
        next_cursor=page.next_cursor,
        backwards_cursor=page.backwards_cursor,
    )


def _listed(record: ThreadRecord, loaded: Thread | None) -> WireThread:
    return listed_thread(record) if loaded is None else wire_record(record, loaded)
