"""Turns: the ``Turn`` object, ``turn/*`` requests and turn lifecycle notifications.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import GetCoreSchemaHandler, TypeAdapter
from pydantic_core import CoreSchema, core_schema
from pydantic_core.core_schema import SerializationInfo

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.experimental import EXPERIMENTAL_NOTIFICATIONS
from threadline.protocol.v2.item import ThreadItem, UserInput
from threadline.protocol.v2.item_parts import FunctionCallOutputBody
from threadline.protocol.v2.settings import (
    ApprovalsReviewer,
    AskForApproval,
    CollaborationMode,
    Personality,
    ReasoningEffort,
    ReasoningSummary,
    SandboxPolicy,
)


class HttpConnectionFailedDetails(WireModel):
    http_status_code: int | None = None


class HttpConnectionFailedCodexErrorInfo(WireModel):
    http_connection_failed: HttpConnectionFailedDetails


class ResponseStreamConnectionFailedDetails(WireModel):
    http_status_code: int | None = None


class ResponseStreamConnectionFailedCodexErrorInfo(WireModel):
    response_stream_connection_failed: ResponseStreamConnectionFailedDetails


class ResponseStreamDisconnectedDetails(WireModel):
    http_status_code: int | None = None


class ResponseStreamDisconnectedCodexErrorInfo(WireModel):
    response_stream_disconnected: ResponseStreamDisconnectedDetails


class ResponseTooManyFailedAttemptsDetails(WireModel):
    http_status_code: int | None = None


class ResponseTooManyFailedAttemptsCodexErrorInfo(WireModel):
    response_too_many_failed_attempts: ResponseTooManyFailedAttemptsDetails


NonSteerableTurnKind = Literal["review", "compact"]


class ActiveTurnNotSteerableDetails(WireModel):
    turn_kind: NonSteerableTurnKind


class ActiveTurnNotSteerableCodexErrorInfo(WireModel):
    active_turn_not_steerable: ActiveTurnNotSteerableDetails


CodexErrorInfo = (
    Literal[
        "contextWindowExceeded",
        "sessionBudgetExceeded",
        "usageLimitExceeded",
        "rateLimitExceeded",
        "flexUnavailable",
        "serverOverloaded",
        "modelNotFound",
        "policyCapacityUnavailable",
        "cyberPolicy",
        "misalignmentPolicyViolation",
        "tooManyDenials",
        "internalServerError",
        "unauthorized",
        "badRequest",
        "threadRollbackFailed",
        "sandboxError",
        "other",
        "inferenceHookDenied",
    ]
    | HttpConnectionFailedCodexErrorInfo
    | ResponseStreamConnectionFailedCodexErrorInfo
    | ResponseStreamDisconnectedCodexErrorInfo
    | ResponseTooManyFailedAttemptsCodexErrorInfo
    | ActiveTurnNotSteerableCodexErrorInfo
    | str
    | dict[str, Any]
)


class MisalignmentSteer(WireModel):
    message: str


class MisalignmentErrorDetails(WireModel):
    detailed_explanation: str | None = None
    error_type: str | None = None
    review_target: str | None = None
    steer: MisalignmentSteer | None = None


class TurnError(WireModel):
    message: str
    additional_details: str | None = None
    codex_error_info: CodexErrorInfo | None = None
    misalignment: MisalignmentErrorDetails | None = None


TurnItemsView = Literal["notLoaded", "summary", "full"]


_items_models: list[TypeAdapter[list[Any]]] = []


def validate_items(items: list[Any]) -> list[Any]:
    """``items`` (a turn's, as dicts or models) validated as ``Turn.items`` is."""
    if not _items_models:
        _items_models.append(TypeAdapter(list[ThreadItem]))
    return _items_models[0].validate_python(items)


def wire_dump(info: SerializationInfo) -> bool:
    """Whether a serialization is the wire's: JSON, by alias, nothing left out."""
    return (
        info.mode == "json" and bool(info.by_alias) and info.include is None
        and info.exclude is None
        and not (info.exclude_none or info.exclude_unset or info.exclude_defaults
                 or info.round_trip)
    )


def items_out(items: Any, info: SerializationInfo) -> Any:
    """What a turn's ``items`` are serialized as, by pydantic-core's inference: each
    item by its own model's serializer, which is what the item union's serializer picks
    for it (the same bytes, for any dump). The items of a turn read from a rollout and
    not looked at since (``turn_json.StoredTurn``) are still their checked wire JSON:
    written as they are to the wire, and as their models for any other dump."""
    if type(items) is list and items and type(items[0]) is dict and not wire_dump(info):
        try:
            return validate_items(items)
        except ValueError:  # not a stored turn's: as they are, as the union would
            return items
    return items


class _ItemsOut:
    """``Turn.items``'s serializer: :func:`items_out` (one call a turn, about 0.1 µs)."""

    def __get_pydantic_core_schema__(
        self, source_type: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = dict(handler(source_type))
        schema["serialization"] = core_schema.plain_serializer_function_ser_schema(
            items_out, info_arg=True
        )
        return schema  # type: ignore[return-value]


TurnStatus = Literal["completed", "interrupted", "failed", "inProgress"]


class Turn(WireModel):
    id: str
    items: Annotated[list[ThreadItem], _ItemsOut()]
    status: TurnStatus
    completed_at: int | None = None
    duration_ms: int | None = None
    error: TurnError | None = None
    items_view: TurnItemsView = "full"
    root_turn_id: str | None = None
    started_at: int | None = None


class TurnCompletedNotification(WireModel):
    thread_id: str
    turn: Turn


class TurnDiffUpdatedNotification(WireModel):
    diff: str
    thread_id: str
    turn_id: str


class TurnInterruptParams(WireModel):
    thread_id: str
    turn_id: str


class TurnInterruptResponse(WireModel):
    """The empty ``TurnInterruptResponse`` object."""


TurnPlanStepStatus = Literal["pending", "inProgress", "completed"]


class TurnPlanStep(WireModel):
    status: TurnPlanStepStatus
    step: str


class TurnPlanUpdatedNotification(WireModel):
    plan: list[TurnPlanStep]
    thread_id: str
    turn_id: str
    explanation: str | None = None


class TurnToolOutput(WireModel):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"retain"})
    name: str
    output: FunctionCallOutputBody
    namespace: str | None = None
    retain: bool | None = None


class ThreadSettings(WireModel):
    """A thread's settings as ``thread/settings/updated`` reports them."""

    approval_policy: AskForApproval
    approvals_reviewer: ApprovalsReviewer
    collaboration_mode: CollaborationMode
    cwd: str
    model: str
    model_provider: str
    sandbox_policy: SandboxPolicy
    active_permission_profile: Any = None
    disabled_plugin_ids: list[str] = []
    effort: ReasoningEffort | None = None
    personality: Personality | None = None
    service_tier: str | None = None
    summary: ReasoningSummary | None = None


class ThreadSettingsUpdatedNotification(WireModel):
    thread_id: str
    thread_settings: ThreadSettings




class TurnStartParams(WireModel):
    input: list[UserInput]
    thread_id: str
    approval_policy: AskForApproval | None = None
    approvals_reviewer: ApprovalsReviewer | None = None
    client_user_message_id: str | None = None
    cwd: str | None = None
    disabled_plugin_ids: list[str] | None = None
    effort: ReasoningEffort | None = None
    model: str | None = None
    output_schema: Any = None
    parent_turn_id: str | None = None
    personality: Personality | None = None
    root_turn_id: str | None = None
    sandbox_policy: SandboxPolicy | None = None
    service_tier: str | None = None
    service_tier_for_turn: str | None = None
    summary: ReasoningSummary | None = None
    tool_output: TurnToolOutput | None = None
    turn_trigger: str | None = None
    # Accepted by Codex beyond its generated schema (experimental):
    collaboration_mode: CollaborationMode | None = None


class TurnStartResponse(WireModel):
    turn: Turn


class TurnStartedNotification(WireModel):
    thread_id: str
    turn: Turn


class TurnSteerParams(WireModel):
    expected_turn_id: str
    input: list[UserInput]
    thread_id: str
    client_user_message_id: str | None = None


class TurnSteerResponse(WireModel):
    turn_id: str


__all__ = [
    "EXPERIMENTAL_NOTIFICATIONS",
    "ActiveTurnNotSteerableCodexErrorInfo", "ActiveTurnNotSteerableDetails", "CodexErrorInfo",
    "HttpConnectionFailedCodexErrorInfo", "HttpConnectionFailedDetails",
    "MisalignmentErrorDetails", "MisalignmentSteer", "NonSteerableTurnKind",
    "ResponseStreamConnectionFailedCodexErrorInfo", "ResponseStreamConnectionFailedDetails",
    "ResponseStreamDisconnectedCodexErrorInfo", "ResponseStreamDisconnectedDetails",
    "ResponseTooManyFailedAttemptsCodexErrorInfo", "ResponseTooManyFailedAttemptsDetails",
    "Turn", "TurnCompletedNotification", "TurnDiffUpdatedNotification", "TurnError",
    "TurnInterruptParams", "TurnInterruptResponse", "TurnItemsView", "TurnPlanStep",
    "TurnPlanStepStatus", "TurnPlanUpdatedNotification", "TurnStartParams",
    "TurnStartResponse", "TurnStartedNotification", "TurnStatus", "TurnSteerParams",
    "TurnSteerResponse", "TurnToolOutput", "ThreadSettings", "ThreadSettingsUpdatedNotification",
]
