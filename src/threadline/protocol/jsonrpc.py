"""JSON-RPC 2.0 envelopes as Codex speaks them.

The ``"jsonrpc"`` member is never written and is accepted (and ignored) on
input. Ids are integers or strings and are echoed back unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from threadline.protocol import codes

RequestId = int | str
JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class JSONRPCRequest:
    id: RequestId
    method: str
    params: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class JSONRPCNotification:
    method: str
    params: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class JSONRPCResponse:
    id: RequestId
    result: Any


@dataclass(frozen=True, slots=True)
class ErrorObject:
    code: int
    message: str
    data: Any = None

    def to_json(self) -> JsonObject:
        out: JsonObject = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


@dataclass(frozen=True, slots=True)
class JSONRPCError:
    id: RequestId | None
    error: ErrorObject


JSONRPCMessage = JSONRPCRequest | JSONRPCNotification | JSONRPCResponse | JSONRPCError


@dataclass(frozen=True, slots=True)
class InvalidMessage:
    """A line that could not be turned into a message.

    ``id`` is set when the line was an object carrying a usable id, so the
    server can still answer the sender.
    """

    code: int
    message: str
    id: RequestId | None = None
    raw: Any = field(default=None, repr=False)


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def parse_message(obj: Any) -> JSONRPCMessage | InvalidMessage:
    """Classify an already-decoded JSON value as a JSON-RPC message."""
    if not isinstance(obj, dict):
        return InvalidMessage(
            codes.INVALID_REQUEST,
            f"Invalid request: expected a JSON object, got {_json_kind(obj)}",
            raw=obj,
        )
    raw_id = obj.get("id")
    has_id = "id" in obj and raw_id is not None
    if has_id and not _valid_id(raw_id):
        return InvalidMessage(
            codes.INVALID_REQUEST,
            f"Invalid request: `id` must be an integer or a string, got {_json_kind(raw_id)}",
            raw=obj,
        )
    msg_id: RequestId | None = raw_id if has_id else None
    if "method" in obj:
        method = obj["method"]
        if not isinstance(method, str) or not method:
            return InvalidMessage(
                codes.INVALID_REQUEST,
                "Invalid request: `method` must be a non-empty string",
                id=msg_id,
                raw=obj,
            )
        params = obj.get("params")
        if params is not None and not isinstance(params, dict):
            return InvalidMessage(
                codes.INVALID_REQUEST,
                f"Invalid request: `params` must be an object, got {_json_kind(params)}",
                id=msg_id,
                raw=obj,
            )
        if msg_id is None:
            return JSONRPCNotification(method=method, params=params)
        return JSONRPCRequest(id=msg_id, method=method, params=params)
    if msg_id is not None and "result" in obj:
        return JSONRPCResponse(id=msg_id, result=obj["result"])
    if "error" in obj:
        err = obj["error"]
        if (
            isinstance(err, dict)
            and isinstance(err.get("code"), int)
            and isinstance(err.get("message"), str)
        ):
            return JSONRPCError(
                id=msg_id, error=ErrorObject(err["code"], err["message"], err.get("data"))
            )
        return InvalidMessage(
            codes.INVALID_REQUEST, "Invalid request: malformed `error` member", id=None, raw=obj
        )
    return InvalidMessage(
        codes.INVALID_REQUEST,
        "Invalid request: message has neither `method`, `result` nor `error`",
        id=msg_id,
        raw=obj,
    )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def encode_request(id: RequestId, method: str, params: Any) -> JsonObject:
    return {"id": id, "method": method, "params": params}


def encode_notification(method: str, params: Any, emitted_at_ms: int) -> JsonObject:
    return {"method": method, "params": params, "emittedAtMs": emitted_at_ms}


def encode_response(id: RequestId, result: Any) -> JsonObject:
    return {"id": id, "result": result}


def encode_error(id: RequestId | None, error: ErrorObject) -> JsonObject:
    return {"id": id, "error": error.to_json()}


MAX_MESSAGE_BYTES = 10 * 1024 * 1024
"""Largest accepted message (one stdio line or one websocket text frame), in bytes."""


def too_large(size: int) -> InvalidMessage:
    """The answer to a message over :data:`MAX_MESSAGE_BYTES` (nothing of it is parsed)."""
    return InvalidMessage(
        codes.INVALID_REQUEST,
        f"Invalid request: message of {size} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes",
    )


def decode_message(data: str | bytes) -> JSONRPCMessage | InvalidMessage:
    """Decode one framed message (a line without its newline, or a text frame).

    Undecodable bytes and invalid JSON give a ``-32700`` :class:`InvalidMessage`
    without an id; everything else is classified by :func:`parse_message`.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        return too_large(len(data))
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        obj = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return InvalidMessage(codes.PARSE_ERROR, f"Parse error: {exc}")
    return parse_message(obj)


def _reject_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are Python extensions, not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def encode_message(message: JSONRPCMessage) -> JsonObject:
    """The wire form of a parsed message (never with a ``"jsonrpc"`` member)."""
    if isinstance(message, JSONRPCRequest):
        out: JsonObject = {"id": message.id, "method": message.method}
        if message.params is not None:
            out["params"] = message.params
        return out
    if isinstance(message, JSONRPCNotification):
        note: JsonObject = {"method": message.method}
        if message.params is not None:
            note["params"] = message.params
        return note
    if isinstance(message, JSONRPCResponse):
        return encode_response(message.id, message.result)
    return encode_error(message.id, message.error)


def dumps(obj: JsonObject) -> str:
    """Compact JSON text for one wire message (no newline).

    Encoded by pydantic-core's serializer, about twice as fast as :func:`json.dumps`
    on the multi-megabyte ``thread/resume`` answers; the output is the same compact form.
    """
    try:
        return pydantic_core.to_json(obj, inf_nan_mode="null").decode("utf-8")
    except pydantic_core.PydanticSerializationError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps_line(obj: JsonObject) -> bytes:
    """:func:`dumps` as UTF-8 bytes ending in a newline (one stdio frame)."""
    try:
        return pydantic_core.to_json(obj, inf_nan_mode="null") + b"\n"
    except pydantic_core.PydanticSerializationError:
        return dumps(obj).encode("utf-8") + b"\n"
