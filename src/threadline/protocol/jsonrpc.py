"""JSON-RPC 2.0 envelopes as Codex speaks them.

The ``"jsonrpc"`` member is never written and is accepted (and ignored) on
input. Ids are integers or strings and are echoed back unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from threadline.protocol import codes
from threadline.protocol.text import LONE_SURROGATE, without_surrogates

RequestId = int | str
JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class JSONRPCRequest:
    id: RequestId
    method: str
    params: JsonObject | None = None
    trace: JsonObject | None = None
    """The W3C trace context the request carries (``traceparent``, ``tracestate``)."""


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
        trace = obj.get("trace")
        trace = trace if isinstance(trace, dict) else None
        return JSONRPCRequest(id=msg_id, method=method, params=params, trace=trace)
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

    Input that is not JSON text gives a ``-32700`` :class:`InvalidMessage`: invalid
    JSON, bytes that are not UTF-8, and strings holding a lone surrogate (a
    ``\\ud800`` escape without its pair is not a Unicode character; Codex's serde
    refuses it the same way). The id of such a message is kept when it can still be
    read, so the sender learns which request failed. Everything else is classified
    by :func:`parse_message`.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        return too_large(len(data))
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        return InvalidMessage(
            codes.PARSE_ERROR,
            f"Parse error: invalid UTF-8 at byte {exc.start}: {exc.reason}",
            id=_salvage_id(data) if isinstance(data, bytes) else None,
        )
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return InvalidMessage(codes.PARSE_ERROR, f"Parse error: {exc}")
    if _may_hold_surrogate(text):
        found = _find_surrogate(obj)
        if found is not None:
            path, char = found
            where = f" at `{path}`" if path else ""
            return InvalidMessage(
                codes.PARSE_ERROR,
                f"Parse error: lone surrogate `\\u{ord(char):04x}` in a string{where}; "
                "JSON text must be valid Unicode",
                id=_clean_id(obj),
            )
    return parse_message(obj)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_CHAR = LONE_SURROGATE


def _may_hold_surrogate(text: str) -> bool:
    """Cheap pre-check: a surrogate can only come from a ``\\uD8xx``-``\\uDFxx`` escape
    (or from a ``str`` that already holds one); pairs are combined by the parser."""
    return _SURROGATE_ESCAPE.search(text) is not None or _SURROGATE_CHAR.search(text) is not None


def _find_surrogate(value: Any, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """The path and the character of the first lone surrogate in a decoded JSON value."""
    if isinstance(value, str):
        match = _SURROGATE_CHAR.search(value)
        return (path, match.group()) if match else None
    if depth > _MAX_SCAN_DEPTH:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            match = _SURROGATE_CHAR.search(key)
            if match:
                return (f"{path}.<key>" if path else "<key>", match.group())
            found = _find_surrogate(item, f"{path}.{key}" if path else key, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_surrogate(item, f"{path}[{index}]", depth + 1)
            if found is not None:
                return found
    return None


_MAX_SCAN_DEPTH = 512
"""Deeper than Python's parser lets a document nest anyway (it raises RecursionError)."""


def _clean_id(obj: Any) -> RequestId | None:
    """The message's id when it is usable and holds no surrogate, else ``None``."""
    if not isinstance(obj, dict):
        return None
    value = obj.get("id")
    if not _valid_id(value):
        return None
    if isinstance(value, str) and _SURROGATE_CHAR.search(value):
        return None
    return value  # type: ignore[no-any-return]


def _salvage_id(data: bytes) -> RequestId | None:
    """The id of a line that is not UTF-8: the bad bytes become lone surrogates
    (``surrogateescape``), so an id made of them is refused and a clean one kept."""
    try:
        obj = json.loads(data.decode("utf-8", "surrogateescape"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return _clean_id(obj)


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


class Encoded(dict[str, Any]):
    """A message serialized when it was queued: ``body`` is its compact JSON, written as
    is (a transport that can writes the frame's newline after it, not copying ``body``
    to append one); the mapping is the message (its result still a model), for whatever
    looks at it before then. See :func:`encode_response_line`."""

    __slots__ = ("body", "on_written")

    def __init__(self, message: JsonObject, body: bytes) -> None:
        super().__init__(message)
        self.body = body
        self.on_written: Callable[[], object] | None = None
        """Called once the message has been written, or will never be (the connection
        closed first): what waits for a big answer to be out (see the server's
        connection)."""

    def written(self) -> None:
        """Run :attr:`on_written` once (a failure is the caller's to log)."""
        callback, self.on_written = self.on_written, None
        if callback is not None:
            callback()

    def decoded(self) -> JsonObject:
        """The message as plain JSON values (what a client reading ``body`` gets)."""
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


def encode_response_line(id: RequestId, result: Any) -> Encoded | None:
    """The response ``{"id", "result"}`` serialized now, in one pass: a pydantic
    ``result`` (by alias, nulls kept) is written straight to JSON, not first dumped to
    dicts; the bytes are those :func:`dumps` writes for the dumped result. ``None``
    when it cannot be encoded so (a lone surrogate): the caller sends the dumped result,
    which :func:`dumps_line` cleans."""
    message = encode_response(id, result)
    try:
        return Encoded(message, pydantic_core.to_json(message, inf_nan_mode="null"))
    except Exception:
        return None


def frame_parts(obj: JsonObject) -> list[bytes]:
    """:func:`dumps_line`'s frame as the pieces to write one after the other: an
    :class:`Encoded` message's bytes and the newline, not a copy of them joined."""
    if isinstance(obj, Encoded):
        return [obj.body, b"\n"]
    return [dumps_line(obj)]


def dumps(obj: JsonObject) -> str:
    """Compact JSON text for one wire message (no newline); never raises.

    Encoded by pydantic-core's serializer, about twice as fast as :func:`json.dumps`
    on the multi-megabyte ``thread/resume`` answers; the output is the same compact form.
    What it cannot encode goes through :func:`_encode_safely`.
    """
    if isinstance(obj, Encoded):
        return obj.body.decode("utf-8")
    try:
        return pydantic_core.to_json(obj, inf_nan_mode="null").decode("utf-8")
    except Exception:
        return _encode_safely(obj).decode("utf-8")


def dumps_line(obj: JsonObject) -> bytes:
    """:func:`dumps` as UTF-8 bytes ending in a newline (one stdio frame); never raises."""
    if isinstance(obj, Encoded):
        return obj.body + b"\n"
    try:
        return pydantic_core.to_json(obj, inf_nan_mode="null") + b"\n"
    except Exception:
        return _encode_safely(obj) + b"\n"


def _encode_safely(obj: JsonObject) -> bytes:
    """The last line of defence of the outgoing path: a message that cannot be encoded
    must not take the connection (and every message written with it) down.

    Lone surrogates (from a non-UTF-8 file name, or a rollout line holding a ``\\ud800``
    escape) become U+FFFD, the only form every JSON parser accepts; values of unknown
    types are written as their ``str``. A message still not encodable (a reference
    cycle) is replaced by a ``-32603`` error: for a response it carries the request's id.
    """
    try:
        return pydantic_core.to_json(_scrub(obj), inf_nan_mode="null", serialize_unknown=True)
    except Exception as exc:
        return pydantic_core.to_json(_unencodable(obj, exc))


def _scrub(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with lone surrogates in strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return without_surrogates(value)
    if depth > _MAX_SCAN_DEPTH:
        raise ValueError("message nested too deeply to encode")
    if isinstance(value, dict):
        return {
            (_scrub(key) if isinstance(key, str) else key): _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value]
    return value


def _unencodable(obj: JsonObject, exc: Exception) -> JsonObject:
    request_id = obj.get("id") if isinstance(obj, dict) else None
    method = obj.get("method") if isinstance(obj, dict) else None
    if not _valid_id(request_id) or (
        isinstance(request_id, str) and _SURROGATE_CHAR.search(request_id)
    ):
        request_id = None
    what = f"a `{method}` message" if isinstance(method, str) else "the response"
    if isinstance(method, str) and _SURROGATE_CHAR.search(method):
        what = "a message"
    return encode_error(
        request_id if method is None else None,
        ErrorObject(
            codes.INTERNAL_ERROR,
            f"Internal error: {what} could not be encoded as JSON ({type(exc).__name__})",
        ),
    )
