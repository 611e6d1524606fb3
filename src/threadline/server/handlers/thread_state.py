"""Handlers of the ``thread_state`` methods: ``thread/delete``, ``thread/metadata/update``,
``thread/goal/*``, ``thread/revert``, ``threadSection/*`` and ``thread/section/move``,
``thread/attachment*`` and ``thread/approveGuardianDeniedAction``.

The work is core's (``manager.thread_state``); a handler checks the params Codex checks,
with Codex's wording and codes (its section and attachment checks answer ``-32602``, the
rest ``-32600``), builds the answer and sends the notifications after it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from threadline.core.errors import InvalidRequest
from threadline.core.thread_state import (
    AttachmentRecord,
    SectionRecord,
    ThreadStateService,
)
from threadline.protocol import codes
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.thread import (
    NotLoadedThreadStatus,
    ThreadSectionAppearance,
    ThreadStatusChangedNotification,
)
from threadline.protocol.v2.thread import Thread as WireThread
from threadline.protocol.v2.thread_ops import (
    ThreadDeletedNotification,
    ThreadDeleteParams,
    ThreadDeleteResponse,
    ThreadGoalClearedNotification,
)
from threadline.protocol.v2.thread_state import (
    ThreadApproveGuardianDeniedActionParams,
    ThreadApproveGuardianDeniedActionResponse,
    ThreadAttachment,
    ThreadAttachmentAddParams,
    ThreadAttachmentAddResponse,
    ThreadAttachmentListParams,
    ThreadAttachmentListResponse,
    ThreadAttachmentOwner,
    ThreadAttachmentOwnerListParams,
    ThreadAttachmentOwnerListResponse,
    ThreadAttachmentRemoveParams,
    ThreadAttachmentRemoveResponse,
    ThreadAttachmentUpdatedNotification,
    ThreadGoalClearParams,
    ThreadGoalClearResponse,
    ThreadGoalGetParams,
    ThreadGoalGetResponse,
    ThreadGoalSetParams,
    ThreadGoalSetResponse,
    ThreadGoalUpdatedNotification,
    ThreadMetadataUpdateParams,
    ThreadMetadataUpdateResponse,
    ThreadRevertedNotification,
    ThreadRevertParams,
    ThreadRevertResponse,
    ThreadSectionChangedNotification,
    ThreadSectionCreateParams,
    ThreadSectionCreateResponse,
    ThreadSectionDeleteParams,
    ThreadSectionDeleteResponse,
    ThreadSectionListParams,
    ThreadSectionListResponse,
    ThreadSectionMoveParams,
    ThreadSectionMoveResponse,
    ThreadSectionUpdateParams,
    ThreadSectionUpdateResponse,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime, wire_record
from threadline.server.handlers.goals import attach, goal_notification, service, wire_goal
from threadline.server.handlers.sections import wire_section, with_section, with_sections

__all__ = ["HANDLERS", "attach", "goal_notification", "with_sections", "MAX_ATTACHMENT_PAYLOAD_BYTES", "MAX_SECTION_NAME_CHARS"]

DEFAULT_PAGE = 50
MAX_PAGE = 200
MAX_SECTION_NAME_CHARS = 256
"""Longest section name accepted (Codex sets none; a name is a label in a sidebar)."""
MAX_ATTACHMENT_PAYLOAD_BYTES = 256 * 1024
"""Largest attachment payload stored, as compact JSON (Codex sets none; every list
answer carries the payloads, so one unbounded payload would make every page huge)."""
MAX_KEY_CHARS = 1024

def _svc(rt: Runtime) -> ThreadStateService:
    """The manager's thread state, its goal changes relayed (``handlers/goals.py``)."""
    return service(rt)


def _bad_params(message: str) -> RpcError:
    return RpcError(codes.INVALID_PARAMS, message)


def _limit(limit: int | None) -> int:
    return max(1, min(MAX_PAGE, limit if limit is not None else DEFAULT_PAGE))


def wire_attachment(a: AttachmentRecord) -> ThreadAttachment:
    return ThreadAttachment(
        id=a.id,
        attachment_type=a.attachment_type,
        identity_key=a.identity_key,
        payload=a.payload,
        created_at=a.created_at_ms // 1000,
    )


async def _stored_wire(rt: Runtime, thread_id: str) -> WireThread:
    """The thread as ``thread/read`` shows it without turns, with its section."""
    record, _turns = await rt.manager.read_thread(thread_id, include_turns=False)
    loaded = rt.manager.find(record.id)
    wire = wire_record(record, loaded)
    placements = await _svc(rt).placements([record.id])
    return with_section(wire, placements.get(record.id))


# -- delete ------------------------------------------------------------------------------
async def thread_delete(
    rt: Runtime, ctx: RequestContext, p: ThreadDeleteParams
) -> ThreadDeleteResponse:
    canonical, was_loaded, _attachments = await _svc(rt).delete_thread(p.thread_id)
    rt.router.detach(canonical)

    def announce() -> None:
        if was_loaded:
            unloaded = ThreadStatusChangedNotification(
                thread_id=canonical, status=NotLoadedThreadStatus()
            )
            rt.broadcast("thread/status/changed", dump_wire(unloaded))
        rt.broadcast("thread/deleted", dump_wire(ThreadDeletedNotification(thread_id=canonical)))

    ctx.after_response(announce)
    return ThreadDeleteResponse()


# -- metadata ----------------------------------------------------------------------------
async def thread_metadata_update(
    rt: Runtime, ctx: RequestContext, p: ThreadMetadataUpdateParams
) -> ThreadMetadataUpdateResponse:
    git = p.git_info
    given = sorted(git.model_fields_set) if git is not None else []
    if not given:
        raise InvalidRequest("thread metadata update must include at least one field")
    changes: dict[str, str | None] = {}
    for name in given:
        value = getattr(git, name)
        wire_name = "originUrl" if name == "origin_url" else name
        if value is not None and not value.strip():
            raise InvalidRequest(f"gitInfo.{wire_name} must not be empty")
        if value is not None and ("\x00" in value or len(value) > MAX_KEY_CHARS):
            raise InvalidRequest(
                f"gitInfo.{wire_name} must be at most {MAX_KEY_CHARS} characters, without NUL"
            )
        changes[name] = value.strip() if value is not None else None
    record = await _svc(rt).update_git(p.thread_id, changes)
    return ThreadMetadataUpdateResponse(thread=await _stored_wire(rt, record.id))


# -- goals -------------------------------------------------------------------------------
async def thread_goal_get(
    rt: Runtime, ctx: RequestContext, p: ThreadGoalGetParams
) -> ThreadGoalGetResponse:
    goal = await _svc(rt).goal(p.thread_id)
    return ThreadGoalGetResponse(goal=wire_goal(goal) if goal is not None else None)


async def thread_goal_set(
    rt: Runtime, ctx: RequestContext, p: ThreadGoalSetParams
) -> ThreadGoalSetResponse:
    goal = await _svc(rt).set_goal(
        p.thread_id,
        objective=p.objective,
        status=p.status,
        token_budget=p.token_budget,
        budget_given="token_budget" in p.model_fields_set,
    )
    wire = wire_goal(goal)
    note = dump_wire(ThreadGoalUpdatedNotification(thread_id=goal.thread_id, turn_id=None, goal=wire))
    ctx.after_response(lambda: rt.broadcast("thread/goal/updated", note))
    return ThreadGoalSetResponse(goal=wire)


async def thread_goal_clear(
    rt: Runtime, ctx: RequestContext, p: ThreadGoalClearParams
) -> ThreadGoalClearResponse:
    svc = _svc(rt)
    canonical = await svc.require_thread(p.thread_id)
    cleared = await svc.clear_goal(canonical)
    if cleared:
        note = dump_wire(ThreadGoalClearedNotification(thread_id=canonical))
        ctx.after_response(lambda: rt.broadcast("thread/goal/cleared", note))
    return ThreadGoalClearResponse(cleared=cleared)


# -- revert ------------------------------------------------------------------------------
async def thread_revert(
    rt: Runtime, ctx: RequestContext, p: ThreadRevertParams
) -> ThreadRevertResponse:
    canonical, _dropped = await _svc(rt).revert_thread(p.thread_id, p.before_turn_id)
    wire = await _stored_wire(rt, canonical)
    note = dump_wire(ThreadRevertedNotification(thread_id=canonical))
    ctx.after_response(lambda: rt.broadcast("thread/reverted", note))
    return ThreadRevertResponse(thread=wire)


# -- sections ----------------------------------------------------------------------------
def _section_name(name: str) -> str:
    clean = name.strip()
    if not clean:
        raise _bad_params("section name must not be empty")
    if "\x00" in clean or len(clean) > MAX_SECTION_NAME_CHARS:
        raise _bad_params(
            f"section name must be at most {MAX_SECTION_NAME_CHARS} characters, without NUL"
        )
    return clean


def _appearance(value: ThreadSectionAppearance | None) -> dict[str, Any] | None:
    if value is None:
        return None
    data = value.model_dump(mode="json", by_alias=True)
    if len(json.dumps(data)) > MAX_KEY_CHARS:
        raise _bad_params(f"appearance must be at most {MAX_KEY_CHARS} characters as JSON")
    return data


async def thread_section_list(
    rt: Runtime, ctx: RequestContext, p: ThreadSectionListParams
) -> ThreadSectionListResponse:
    page = await _svc(rt).sections(_limit(p.limit), p.cursor)
    return ThreadSectionListResponse(
        data=[wire_section(s) for s in page.items], next_cursor=page.next_cursor
    )


async def thread_section_create(
    rt: Runtime, ctx: RequestContext, p: ThreadSectionCreateParams
) -> ThreadSectionCreateResponse:
    section = await _svc(rt).create_section(_section_name(p.name), _appearance(p.appearance))
    return ThreadSectionCreateResponse(section=wire_section(section))


async def thread_section_update(
    rt: Runtime, ctx: RequestContext, p: ThreadSectionUpdateParams
) -> ThreadSectionUpdateResponse:
    svc = _svc(rt)
    name = _section_name(p.name)
    current = await svc.section(p.section_id)
    if current is None:
        raise _bad_params(f"thread section not found: {p.section_id}")
    appearance = (
        _appearance(p.appearance) if "appearance" in p.model_fields_set else current.appearance
    )
    section = SectionRecord(current.id, name, appearance)
    await svc.update_section(section)
    return ThreadSectionUpdateResponse(section=wire_section(section))


async def thread_section_delete(
    rt: Runtime, ctx: RequestContext, p: ThreadSectionDeleteParams
) -> ThreadSectionDeleteResponse:
    if not await _svc(rt).delete_section(p.section_id):
        raise _bad_params(f"thread section not found: {p.section_id}")
    return ThreadSectionDeleteResponse()


async def thread_section_move(
    rt: Runtime, ctx: RequestContext, p: ThreadSectionMoveParams
) -> ThreadSectionMoveResponse:
    canonical = await _svc(rt).move_to_section(p.thread_id, p.section_id, p.before_thread_id)
    note = dump_wire(ThreadSectionChangedNotification(thread_id=canonical, section_id=p.section_id))
    ctx.after_response(lambda: rt.broadcast("thread/section/changed", note))
    return ThreadSectionMoveResponse()


# -- attachments -------------------------------------------------------------------------
def _key(field: str, value: str) -> str:
    if not value:
        raise _bad_params(f"{field} must not be empty")
    if "\x00" in value or len(value) > MAX_KEY_CHARS:
        raise _bad_params(f"{field} must be at most {MAX_KEY_CHARS} characters, without NUL")
    return value


async def _require_for_attachment(svc: ThreadStateService, thread_id: str) -> None:
    if not await svc.exists(thread_id):
        raise _bad_params(f"thread not found: {thread_id}")


def _attachment_note(a: AttachmentRecord, operation: str) -> dict[str, Any]:
    return dump_wire(
        ThreadAttachmentUpdatedNotification(
            thread_id=a.thread_id,
            attachment_id=a.id,
            attachment_type=a.attachment_type,
            identity_key=a.identity_key,
            operation=operation,  # type: ignore[arg-type]
        )
    )


async def thread_attachment_add(
    rt: Runtime, ctx: RequestContext, p: ThreadAttachmentAddParams
) -> ThreadAttachmentAddResponse:
    kind = _key("attachmentType", p.attachment_type)
    key = _key("identityKey", p.identity_key)
    size = len(json.dumps(p.payload, ensure_ascii=False).encode())
    if size > MAX_ATTACHMENT_PAYLOAD_BYTES:
        raise _bad_params(
            f"payload is {size} bytes as JSON; at most {MAX_ATTACHMENT_PAYLOAD_BYTES} are allowed"
        )
    svc = _svc(rt)
    await _require_for_attachment(svc, p.thread_id)
    record, created = await svc.add_attachment(p.thread_id, kind, key, p.payload)
    if created:
        note = _attachment_note(record, "created")
        ctx.after_response(lambda: rt.broadcast("thread/attachment/updated", note))
    return ThreadAttachmentAddResponse(
        attachment=wire_attachment(record), outcome="created" if created else "existing"
    )


async def thread_attachment_list(
    rt: Runtime, ctx: RequestContext, p: ThreadAttachmentListParams
) -> ThreadAttachmentListResponse:
    svc = _svc(rt)
    await _require_for_attachment(svc, p.thread_id)
    page = await svc.attachments(p.thread_id, _limit(p.limit), p.cursor)
    return ThreadAttachmentListResponse(
        data=[wire_attachment(a) for a in page.items], next_cursor=page.next_cursor
    )


async def thread_attachment_remove(
    rt: Runtime, ctx: RequestContext, p: ThreadAttachmentRemoveParams
) -> ThreadAttachmentRemoveResponse:
    svc = _svc(rt)
    await _require_for_attachment(svc, p.thread_id)
    removed = await svc.remove_attachment(p.thread_id, p.attachment_type, p.identity_key)
    if removed is not None:
        note = _attachment_note(removed, "deleted")
        ctx.after_response(lambda: rt.broadcast("thread/attachment/updated", note))
    return ThreadAttachmentRemoveResponse()


async def thread_attachment_owner_list(
    rt: Runtime, ctx: RequestContext, p: ThreadAttachmentOwnerListParams
) -> ThreadAttachmentOwnerListResponse:
    page = await _svc(rt).attachment_owners(
        p.attachment_type, p.identity_key, _limit(p.limit), p.cursor, p.archived
    )
    return ThreadAttachmentOwnerListResponse(
        data=[ThreadAttachmentOwner(thread_id=t, archived=a) for t, a in page.items],
        next_cursor=page.next_cursor,
    )


# -- Guardian ----------------------------------------------------------------------------
async def thread_approve_guardian_denied_action(
    rt: Runtime, ctx: RequestContext, p: ThreadApproveGuardianDeniedActionParams
) -> ThreadApproveGuardianDeniedActionResponse:
    """Codex's Guardian is its ChatGPT-hosted automatic approval reviewer; a client calls
    this to override one of its denials. threadline's reviewer is the user (every
    approval is asked of the client), so no Guardian denial exists to override: the
    event is checked as Codex checks it and the call is answered, changing nothing."""
    event = p.event
    if not isinstance(event, dict):
        raise InvalidRequest("invalid Guardian denial event: expected an object")
    if not isinstance(event.get("id"), str):
        raise InvalidRequest("invalid Guardian denial event: missing field `id`")
    await _svc(rt).require_thread(p.thread_id)
    return ThreadApproveGuardianDeniedActionResponse()


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "thread/delete": thread_delete,
    "thread/metadata/update": thread_metadata_update,
    "thread/goal/set": thread_goal_set,
    "thread/goal/get": thread_goal_get,
    "thread/goal/clear": thread_goal_clear,
    "thread/revert": thread_revert,
    "threadSection/list": thread_section_list,
    "threadSection/create": thread_section_create,
    "threadSection/update": thread_section_update,
    "threadSection/delete": thread_section_delete,
    "thread/section/move": thread_section_move,
    "thread/attachment/add": thread_attachment_add,
    "thread/attachment/list": thread_attachment_list,
    "thread/attachment/remove": thread_attachment_remove,
    "thread/attachmentOwner/list": thread_attachment_owner_list,
    "thread/approveGuardianDeniedAction": thread_approve_guardian_denied_action,
}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""
