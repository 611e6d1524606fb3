"""v2 models: minimal instances validate against the schema; aliases, nulls, adapters."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from test_v2_support import definition_exists, schema_errors

import threadline.protocol.v2 as v2
from threadline.protocol.methods import CLIENT_REQUESTS, SERVER_NOTIFICATIONS, SERVER_REQUESTS
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2 import WireModel, dump_wire
from threadline.protocol.v2.lazy_fields import RealType


def sample(tp: Any) -> Any:
    """The simplest value of type ``tp`` (first union member, first literal, empty list)."""
    origin = get_origin(tp)
    if origin is Annotated:
        return sample(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        return sample(options[0])
    if origin is Literal:
        return get_args(tp)[0]
    if origin is list:
        return []
    if origin is dict:
        return {}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return minimal(tp)
    simple: dict[Any, Any] = {str: "x", int: 0, float: 0.0, bool: False, Any: {}}
    assert tp in simple, f"no sample for {tp!r}"
    return simple[tp]


def field_type(field: FieldInfo) -> Any:
    """The type of ``field``; for a lazy one (``protocol.v2.lazy_fields``), the type it
    stands for."""
    real = [m for m in field.metadata if isinstance(m, RealType)]
    return real[0].resolve() if real else field.annotation


def minimal(model: type[BaseModel]) -> BaseModel:
    """An instance of ``model`` with only its required fields set."""
    fields = model.model_fields
    data = {name: sample(field_type(f)) for name, f in fields.items() if f.is_required()}
    # Models that need one of several members (``url`` or ``fileId``) get the first group.
    groups: tuple[tuple[str, ...], ...] = getattr(model, "_alternatives", ())
    for name in groups[0] if groups else ():
        data[name] = sample(fields[name].annotation)
    return model(**data)


def union_members(alias: Any) -> list[type[BaseModel]]:
    if get_origin(alias) is Annotated:
        alias = get_args(alias)[0]
    if get_origin(alias) not in (Union, types.UnionType):
        return []
    return [a for a in get_args(alias) if isinstance(a, type) and issubclass(a, BaseModel)]


EXPORTED = {name: getattr(v2, name) for name in v2.__all__}
# Checked by hand below: its members depend on ``mode``.
HAND_CHECKED = {"McpServerElicitationRequestParams"}
SCHEMA_MODELS = sorted(
    name
    for name, obj in EXPORTED.items()
    if isinstance(obj, type)
    and issubclass(obj, WireModel)
    and definition_exists(name)
    and name not in HAND_CHECKED
)
UNION_ALIASES = sorted(
    name for name, obj in EXPORTED.items() if union_members(obj) and definition_exists(name)
)


def test_all_is_sorted_and_complete() -> None:
    assert list(v2.__all__) == sorted(v2.__all__)
    for name in v2.__all__:
        assert hasattr(v2, name), name
    assert len(SCHEMA_MODELS) >= 140
    assert {"ThreadItem", "UserInput", "ThreadStatus", "SandboxPolicy"} <= set(UNION_ALIASES)


@pytest.mark.parametrize("name", SCHEMA_MODELS)
def test_minimal_instance_validates(name: str) -> None:
    instance = minimal(EXPORTED[name])
    dumped = dump_wire(instance)
    assert schema_errors(name, dumped) == []
    # What we dump parses back to an equal model.
    assert type(instance).model_validate(dumped) == instance


@pytest.mark.parametrize("name", UNION_ALIASES)
def test_every_union_member_validates_as_the_union(name: str) -> None:
    members = union_members(EXPORTED[name])
    assert members
    for member in members:
        assert schema_errors(name, dump_wire(minimal(member))) == [], member.__name__


NULL_PARAMS = {
    "config/mcpServer/reload",
    "account/logout",
    "configRequirements/read",
    "externalAgentConfig/import/readHistories",
    "account/workspaceMessages/read",
    "account/gatewayOAuth/cancel",
    "windowsSandbox/readiness",
    "account/securitySetup/read",
}
"""Methods whose params the reference schema types as ``null`` (no definition to name)."""


def test_method_tables_name_schema_definitions() -> None:
    models: list[type[BaseModel]] = []
    for method, (params, response) in CLIENT_REQUESTS.items():
        if method not in NULL_PARAMS:
            models.append(params)
        if response is not None:
            models.append(response)
    models += SERVER_NOTIFICATIONS.values()
    for params, response in SERVER_REQUESTS.values():
        models += [params, response]
    for model in models:
        assert definition_exists(model.__name__), model.__name__
    assert "thread/tokenUsage/updated" in SERVER_NOTIFICATIONS
    assert SERVER_REQUESTS["item/commandExecution/requestApproval"][1] is (
        v2.CommandExecutionRequestApprovalResponse
    )


def test_thread_item_adapter_dispatches_on_type() -> None:
    item = v2.thread_item_adapter.validate_python(
        {
            "type": "commandExecution",
            "id": "c1",
            "command": "ls",
            "cwd": "/w",
            "status": "completed",
        }
        | {"commandActions": [{"type": "listFiles", "command": "ls", "path": None}]}
    )
    assert isinstance(item, v2.CommandExecutionThreadItem)
    assert isinstance(item.command_actions[0], v2.ListFilesCommandAction)
    dumped = v2.thread_item_adapter.dump_python(item, mode="json", by_alias=True)
    assert dumped["commandActions"][0] == {"type": "listFiles", "command": "ls", "path": None}
    assert schema_errors("ThreadItem", dumped) == []
    with pytest.raises(ValidationError):
        v2.thread_item_adapter.validate_python({"type": "noSuchItem", "id": "x"})


def test_snake_case_wire_members_keep_their_names() -> None:
    text = v2.TextUserInput(text="hi")
    assert dump_wire(text) == {"type": "text", "text": "hi", "text_elements": []}
    parsed = v2.user_input_adapter.validate_python(
        {"type": "text", "text": "a", "text_elements": [{"byteRange": {"start": 0, "end": 1}}]}
    )
    assert isinstance(parsed, v2.TextUserInput)
    assert parsed.text_elements[0].byte_range.end == 1

    decision = v2.CommandExecutionRequestApprovalResponse(
        decision=v2.AcceptWithExecpolicyAmendmentCommandExecutionApprovalDecision(
            accept_with_execpolicy_amendment=v2.AcceptWithExecpolicyAmendmentDetails(
                execpolicy_amendment=["ls"]
            )
        )
    )
    dumped = dump_wire(decision)
    assert dumped == {
        "decision": {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["ls"]}}
    }
    assert schema_errors("CommandExecutionRequestApprovalResponse", dumped) == []
    assert schema_errors("CommandExecutionRequestApprovalResponse", {"decision": "accept"}) == []


def test_nulls_are_kept_and_non_nullable_optionals_are_dropped() -> None:
    turn = v2.Turn(id="t1", items=[], status="inProgress")
    dumped = dump_wire(turn)
    assert dumped["error"] is None and dumped["startedAt"] is None
    assert dumped["itemsView"] == "full"
    # ``url``/``fileId`` may be absent but never null.
    image = v2.ImageUserInput(url="https://example.invalid/a.png")
    assert dump_wire(image) == {
        "type": "image",
        "detail": None,
        "url": "https://example.invalid/a.png",
    }
    assert schema_errors("UserInput", dump_wire(image)) == []


def test_params_ignore_unknown_members_and_require_the_schema_ones() -> None:
    params = v2.TurnStartParams.model_validate(
        {"threadId": "t", "input": [{"type": "text", "text": "hi"}], "fromTheFuture": 1}
    )
    assert params.thread_id == "t"
    assert "fromTheFuture" not in dump_wire(params)
    with pytest.raises(ValidationError):
        v2.TurnStartParams.model_validate({"input": []})
    start = v2.ThreadStartParams.model_validate({})
    assert start.cwd is None and start.model is None


def test_thread_token_usage_from_info() -> None:
    info = TokenUsageInfo(
        total_token_usage=TokenUsage(
            input_tokens=100,
            cached_input_tokens=40,
            output_tokens=20,
            reasoning_output_tokens=5,
            total_tokens=120,
        ),
        last_token_usage=TokenUsage(input_tokens=10, output_tokens=2, total_tokens=12),
        model_context_window=272_000,
    )
    usage = v2.ThreadTokenUsage.from_info(info)
    note = v2.ThreadTokenUsageUpdatedNotification(thread_id="th", turn_id="tu", token_usage=usage)
    dumped = dump_wire(note)
    assert dumped["tokenUsage"]["total"] == {
        "totalTokens": 120,
        "inputTokens": 100,
        "cachedInputTokens": 40,
        "cacheWriteInputTokens": 0,
        "outputTokens": 20,
        "reasoningOutputTokens": 5,
    }
    assert dumped["tokenUsage"]["last"]["totalTokens"] == 12
    assert dumped["tokenUsage"]["modelContextWindow"] == 272_000
    assert schema_errors("ThreadTokenUsageUpdatedNotification", dumped) == []


def test_thread_status_and_turn_error_variants() -> None:
    status = v2.ThreadStatusChangedNotification(
        thread_id="t", status=v2.ActiveThreadStatus(active_flags=["waitingOnApproval"])
    )
    assert dump_wire(status)["status"] == {"type": "active", "activeFlags": ["waitingOnApproval"]}
    for info in (
        "contextWindowExceeded",
        v2.HttpConnectionFailedCodexErrorInfo(
            http_connection_failed=v2.HttpConnectionFailedDetails(http_status_code=502)
        ),
    ):
        turn = v2.Turn(
            id="t",
            items=[v2.AgentMessageThreadItem(id="a", text="partial")],
            status="failed",
            error=v2.TurnError(message="boom", codex_error_info=info),
        )
        note = v2.TurnCompletedNotification(thread_id="th", turn=turn)
        assert schema_errors("TurnCompletedNotification", dump_wire(note)) == []


def test_elicitation_request_dumps_per_mode() -> None:
    form = v2.McpServerElicitationRequestParams(
        server_name="srv",
        thread_id="t",
        mode="form",
        message="Pick one",
        requested_schema={"type": "object", "properties": {}},
    )
    assert schema_errors("McpServerElicitationRequestParams", dump_wire(form)) == []
    url = v2.McpServerElicitationRequestParams(
        server_name="srv",
        thread_id="t",
        mode="url",
        message="Sign in",
        url="https://example.invalid/login",
        elicitation_id="e1",
    )
    dumped = dump_wire(url)
    assert "requestedSchema" not in dumped
    assert schema_errors("McpServerElicitationRequestParams", dumped) == []


def test_type_hints_resolve_for_every_model() -> None:
    # Forward references across modules are all resolvable (no lazy surprises later).
    for name in SCHEMA_MODELS:
        assert typing.get_type_hints(EXPORTED[name]) is not None
