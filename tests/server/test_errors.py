"""server/errors.py: the one mapping from exceptions to JSON-RPC error objects."""

from __future__ import annotations

from pydantic import ValidationError

from threadline.core.errors import ExpectedTurnMismatch, InvalidRequest
from threadline.protocol.jsonrpc import ErrorObject
from threadline.protocol.v2.thread import ThreadReadParams
from threadline.server.errors import RpcError, error_object_for, invalid_params
from threadline.store.base import StoreError, StoreThreadNotFound


def test_rpc_errors_keep_their_code_message_and_data() -> None:
    assert error_object_for(RpcError(-32001, "busy", {"retry": True})) == (
        ErrorObject(-32001, "busy", {"retry": True}),
        False,
    )


def test_core_errors_are_invalid_requests_with_their_data() -> None:
    assert error_object_for(InvalidRequest("no")) == (ErrorObject(-32600, "no"), False)
    error, unexpected = error_object_for(ExpectedTurnMismatch("a", "b"))
    assert not unexpected
    assert error == ErrorObject(
        -32600,
        "expected active turn id `a` but found `b`",
        {"expectedTurnId": "a", "activeTurnId": "b"},
    )


def test_store_errors_are_invalid_requests_with_their_message() -> None:
    assert error_object_for(StoreError("bad cursor")) == (ErrorObject(-32600, "bad cursor"), False)
    error, _ = error_object_for(StoreThreadNotFound("t1"))
    assert error == ErrorObject(-32600, "no rollout found for thread id t1")


def test_anything_else_is_an_internal_error_to_log() -> None:
    assert error_object_for(RuntimeError("kaput")) == (
        ErrorObject(-32603, "Internal error: kaput"),
        True,
    )
    assert error_object_for(KeyError()) == (ErrorObject(-32603, "Internal error: KeyError"), True)


def test_invalid_params_are_32600_in_the_reference_wording() -> None:
    raw = {"includeTurns": True}
    try:
        ThreadReadParams.model_validate(raw)
    except ValidationError as exc:
        assert invalid_params(exc, raw) == ErrorObject(
            -32600, "Invalid request: missing field `threadId`"
        )
    else:  # pragma: no cover
        raise AssertionError("threadId is required")
