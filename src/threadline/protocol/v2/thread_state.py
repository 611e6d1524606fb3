"""Wire types of the ``thread_state`` area (Codex 0.169 schema), and its rows of the method
table: delete, metadata, goals, revert, sections, attachments and the Guardian denial
override."""

from typing import Any, Literal

from pydantic import BaseModel

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.thread import (
    Thread,
    ThreadSection,
    ThreadSectionAppearance,
)
from threadline.protocol.v2.thread_ops import (
    ThreadDeleteParams,
    ThreadDeleteResponse,
)

ThreadGoalStatus = Literal["active", "paused", "blocked", "usageLimited", "budgetLimited", "complete"]
ThreadGoalMutationOrigin = Literal["user", "automatic"]


class ThreadGoal(WireModel):
    thread_id: str
    objective: str
    status: ThreadGoalStatus
    token_budget: int | None = None
    tokens_used: int
    time_used_seconds: int
    created_at: int
    updated_at: int


class ThreadGoalSetParams(WireModel):
    thread_id: str
    objective: str | None = None
    status: ThreadGoalStatus | None = None
    token_budget: int | None = None
    origin: ThreadGoalMutationOrigin | None = None


class ThreadGoalSetResponse(WireModel):
    goal: ThreadGoal


class ThreadGoalGetParams(WireModel):
    thread_id: str


class ThreadGoalGetResponse(WireModel):
    goal: ThreadGoal | None = None


class ThreadGoalClearParams(WireModel):
    thread_id: str
    origin: ThreadGoalMutationOrigin | None = None


class ThreadGoalClearResponse(WireModel):
    cleared: bool


class ThreadGoalUpdatedNotification(WireModel):
    thread_id: str
    turn_id: str | None = None
    goal: ThreadGoal


class ThreadMetadataGitInfoUpdateParams(WireModel):
    """Each field: omitted leaves it, ``null`` clears it, a string replaces it
    (``model_fields_set`` tells omitted from ``null``)."""

    branch: str | None = None
    origin_url: str | None = None
    sha: str | None = None


class ThreadMetadataUpdateParams(WireModel):
    thread_id: str
    git_info: ThreadMetadataGitInfoUpdateParams | None = None


class ThreadMetadataUpdateResponse(WireModel):
    thread: Thread


class ThreadRevertParams(WireModel):
    thread_id: str
    before_turn_id: str


class ThreadRevertResponse(WireModel):
    thread: Thread
    items_backwards_cursor: str | None = None
    turns_backwards_cursor: str | None = None


class ThreadRevertedNotification(WireModel):
    thread_id: str


class ThreadSectionListParams(WireModel):
    cursor: str | None = None
    limit: int | None = None


class ThreadSectionListResponse(WireModel):
    data: list[ThreadSection]
    next_cursor: str | None = None


class ThreadSectionCreateParams(WireModel):
    name: str
    appearance: ThreadSectionAppearance | None = None


class ThreadSectionCreateResponse(WireModel):
    section: ThreadSection


class ThreadSectionUpdateParams(WireModel):
    section_id: str
    name: str
    appearance: ThreadSectionAppearance | None = None
    """Omitted keeps the appearance, ``null`` clears it."""


class ThreadSectionUpdateResponse(WireModel):
    section: ThreadSection


class ThreadSectionDeleteParams(WireModel):
    section_id: str


class ThreadSectionDeleteResponse(WireModel):
    """The empty ``ThreadSectionDeleteResponse`` object."""


class ThreadSectionMoveParams(WireModel):
    thread_id: str
    section_id: str | None
    before_thread_id: str | None = None


class ThreadSectionMoveResponse(WireModel):
    """The empty ``ThreadSectionMoveResponse`` object."""


class ThreadSectionChangedNotification(WireModel):
    thread_id: str
    section_id: str | None


class ThreadAttachment(WireModel):
    id: str
    attachment_type: str
    identity_key: str
    payload: Any
    created_at: int


ThreadAttachmentAddOutcome = Literal["created", "existing"]
ThreadAttachmentOperation = Literal["created", "deleted"]


class ThreadAttachmentAddParams(WireModel):
    thread_id: str
    attachment_type: str
    identity_key: str
    payload: Any


class ThreadAttachmentAddResponse(WireModel):
    attachment: ThreadAttachment
    outcome: ThreadAttachmentAddOutcome


class ThreadAttachmentListParams(WireModel):
    thread_id: str
    cursor: str | None = None
    limit: int | None = None


class ThreadAttachmentListResponse(WireModel):
    data: list[ThreadAttachment]
    next_cursor: str | None = None


class ThreadAttachmentRemoveParams(WireModel):
    thread_id: str
    attachment_type: str
    identity_key: str


class ThreadAttachmentRemoveResponse(WireModel):
    """The empty ``ThreadAttachmentRemoveResponse`` object."""


class ThreadAttachmentOwnerListParams(WireModel):
    attachment_type: str
    identity_key: str
    archived: bool | None = None
    cursor: str | None = None
    limit: int | None = None


class ThreadAttachmentOwner(WireModel):
    thread_id: str
    archived: bool


class ThreadAttachmentOwnerListResponse(WireModel):
    data: list[ThreadAttachmentOwner]
    next_cursor: str | None = None


class ThreadAttachmentUpdatedNotification(WireModel):
    thread_id: str
    attachment_id: str
    attachment_type: str
    identity_key: str
    operation: ThreadAttachmentOperation


class ThreadApproveGuardianDeniedActionParams(WireModel):
    thread_id: str
    event: Any
    """A serialized ``GuardianAssessmentEvent`` (Codex's)."""


class ThreadApproveGuardianDeniedActionResponse(WireModel):
    """The empty ``ThreadApproveGuardianDeniedActionResponse`` object."""


REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "thread/delete": (ThreadDeleteParams, ThreadDeleteResponse),
    "thread/metadata/update": (ThreadMetadataUpdateParams, ThreadMetadataUpdateResponse),
    "thread/goal/set": (ThreadGoalSetParams, ThreadGoalSetResponse),
    "thread/goal/get": (ThreadGoalGetParams, ThreadGoalGetResponse),
    "thread/goal/clear": (ThreadGoalClearParams, ThreadGoalClearResponse),
    "thread/revert": (ThreadRevertParams, ThreadRevertResponse),
    "threadSection/list": (ThreadSectionListParams, ThreadSectionListResponse),
    "threadSection/create": (ThreadSectionCreateParams, ThreadSectionCreateResponse),
    "threadSection/update": (ThreadSectionUpdateParams, ThreadSectionUpdateResponse),
    "threadSection/delete": (ThreadSectionDeleteParams, ThreadSectionDeleteResponse),
    "thread/section/move": (ThreadSectionMoveParams, ThreadSectionMoveResponse),
    "thread/attachment/add": (ThreadAttachmentAddParams, ThreadAttachmentAddResponse),
    "thread/attachment/list": (ThreadAttachmentListParams, ThreadAttachmentListResponse),
    "thread/attachment/remove": (ThreadAttachmentRemoveParams, ThreadAttachmentRemoveResponse),
    "thread/attachmentOwner/list": (
        ThreadAttachmentOwnerListParams, ThreadAttachmentOwnerListResponse
    ),
    "thread/approveGuardianDeniedAction": (
        ThreadApproveGuardianDeniedActionParams, ThreadApproveGuardianDeniedActionResponse
    ),
}
"""Client requests of this area: method -> (params type, response type)."""

NOTIFICATIONS: dict[str, type[BaseModel]] = {
    "thread/goal/updated": ThreadGoalUpdatedNotification,
    "thread/reverted": ThreadRevertedNotification,
    "thread/section/changed": ThreadSectionChangedNotification,
    "thread/attachment/updated": ThreadAttachmentUpdatedNotification,
}
"""Server notifications of this area: method -> params type (``thread/deleted`` and
``thread/goal/cleared`` were in ``methods.SERVER_NOTIFICATIONS`` already)."""

__all__ = [
    "NOTIFICATIONS",
    "REQUESTS",
    "ThreadApproveGuardianDeniedActionParams",
    "ThreadApproveGuardianDeniedActionResponse",
    "ThreadAttachment",
    "ThreadAttachmentAddParams",
    "ThreadAttachmentAddResponse",
    "ThreadAttachmentListParams",
    "ThreadAttachmentListResponse",
    "ThreadAttachmentOwner",
    "ThreadAttachmentOwnerListParams",
    "ThreadAttachmentOwnerListResponse",
    "ThreadAttachmentRemoveParams",
    "ThreadAttachmentRemoveResponse",
    "ThreadAttachmentUpdatedNotification",
    "ThreadGoal",
    "ThreadGoalClearParams",
    "ThreadGoalClearResponse",
    "ThreadGoalGetParams",
    "ThreadGoalGetResponse",
    "ThreadGoalSetParams",
    "ThreadGoalSetResponse",
    "ThreadGoalUpdatedNotification",
    "ThreadMetadataGitInfoUpdateParams",
    "ThreadMetadataUpdateParams",
    "ThreadMetadataUpdateResponse",
    "ThreadRevertParams",
    "ThreadRevertResponse",
    "ThreadRevertedNotification",
    "ThreadSectionChangedNotification",
    "ThreadSectionCreateParams",
    "ThreadSectionCreateResponse",
    "ThreadSectionDeleteParams",
    "ThreadSectionDeleteResponse",
    "ThreadSectionListParams",
    "ThreadSectionListResponse",
    "ThreadSectionMoveParams",
    "ThreadSectionMoveResponse",
    "ThreadSectionUpdateParams",
    "ThreadSectionUpdateResponse",
]
