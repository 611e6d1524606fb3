"""The one seam where failures become JSON-RPC error objects (used by ``dispatch`` only).

What a client sees for each kind of failure, in the order :func:`error_object_for` tries them:

* :class:`RpcError` (raised by a handler, or by ``Connection.send_request`` when the
  client refused a server→client request) → its own code, message and data;
* ``core.errors.CoreError`` → ``-32600`` with the core's message and structured data
  (the reference answers every request it cannot honour with ``-32600``);
* ``store``'s ``StoreError`` → ``-32600`` with its message, which the store keeps
  safe to show a client (an unreadable ``thread/list`` cursor, a lock that cannot be
  taken);
* anything else → ``-32603`` ``Internal error: <text>``, logged with its traceback by
  the caller; the connection keeps serving.

Params that fail validation are answered by :func:`invalid_params` with ``-32600``
and the reference's serde wording (``Invalid request: missing field `threadId` ``),
worded by :func:`format_validation_error`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from threadline.core.errors import CoreError
from threadline.core.storage import StoreError
from threadline.protocol import codes
from threadline.protocol.jsonrpc import ErrorObject

__all__ = [
    "ConnectionClosedError",
    "RpcError",
    "error_object_for",
    "field_path",
    "format_validation_error",
    "invalid_params",
]


class RpcError(Exception):
    """A JSON-RPC error to send as the answer to the current request.

    Also raised by ``Connection.send_request`` when the client answers a
    server→client request with an error.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error_object(self) -> ErrorObject:
        return ErrorObject(self.code, self.message, self.data)

    def __repr__(self) -> str:
        return f"RpcError({self.code}, {self.message!r})"


class ConnectionClosedError(Exception):
    """The connection closed before a server→client request was answered."""


def error_object_for(exc: BaseException) -> tuple[ErrorObject, bool]:
    """The error object for ``exc``, and whether it is unexpected (to be logged)."""
    if isinstance(exc, RpcError):
        return exc.to_error_object(), False
    if isinstance(exc, CoreError):
        return ErrorObject(codes.INVALID_REQUEST, exc.message, exc.data), False
    if isinstance(exc, StoreError):
        return ErrorObject(codes.INVALID_REQUEST, exc.message), False
    text = str(exc) or type(exc).__name__
    return ErrorObject(codes.INTERNAL_ERROR, f"Internal error: {text}"), True


def invalid_params(exc: ValidationError, data: Any) -> ErrorObject:
    """The answer to params that fail validation: ``-32600``, as the reference does."""
    return ErrorObject(codes.INVALID_REQUEST, format_validation_error(exc, data))


# -- serde wording of validation errors ------------------------------------------------


def _describe(value: Any) -> str:
    """A JSON value as serde names it in ``invalid type`` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


_EXPECTED: dict[str, str] = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "list_type": "a sequence",
    "tuple_type": "a sequence",
    "set_type": "a sequence",
    "dict_type": "a map",
    "model_type": "a map",
    "model_attributes_type": "a map",
    "dataclass_type": "a map",
    "none_required": "null",
}


_MISSING = object()


def field_path(loc: tuple[int | str, ...] | list[int | str], data: Any = _MISSING) -> str:
    """``("input", 0, "text")`` → ``input[0].text``.

    With ``data`` (the value that was validated) the location is walked through it,
    and the parts that name no member of it are dropped: pydantic adds union labels
    such as the tag of a tagged union or ``literal['a','b']`` to its locations.
    """
    out = ""
    current = data
    last = len(loc) - 1
    for index, part in enumerate(loc):
        if current is not _MISSING:
            if isinstance(part, int) and isinstance(current, list) and 0 <= part < len(current):
                current = current[part]
            elif isinstance(part, str) and isinstance(current, dict) and part in current:
                current = current[part]
            elif not (isinstance(part, str) and isinstance(current, dict) and index == last):
                continue  # a union label, not a member of the data
            # else: the missing field itself, named last
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _one_of(expected: object) -> str:
    """pydantic's ``'a', 'b' or 'c'`` as serde words it: ``one of `a`, `b`, `c` ``."""
    names = re.findall(r"'([^']*)'", str(expected))
    if not names:
        return str(expected)
    return "one of " + ", ".join(f"`{name}`" for name in names)


def _report_order(err: Any, data: Any) -> tuple[int, int]:
    """Which problem serde would report first: a bad value as it reads the input
    (in input order), a missing field only after the whole object (ids first, as the
    reference's structs declare ``threadId`` before the rest)."""
    loc = err["loc"]
    if err["type"] == "missing":
        name = str(loc[-1]) if loc else ""
        return (1, 0 if name.endswith("Id") or name.endswith("_id") else 1)
    if isinstance(data, dict) and loc and loc[0] in data:
        return (0, list(data).index(loc[0]))
    return (0, len(data) if isinstance(data, dict) else 0)


def format_validation_error(exc: ValidationError, data: Any = _MISSING) -> str:
    """The first validation problem, worded like the reference server's serde errors.

    serde names the field only for a missing one; for the other kinds the path of
    the offending field is appended (`` at `input[0].text` ``) so the client can
    tell which one it got wrong. Pass the validated ``data`` for exact paths.
    """
    errors = exc.errors(include_url=False)
    if not errors:
        return "Invalid request"
    err = min(errors, key=lambda e: _report_order(e, data))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    path = field_path(err["loc"], data)
    where = f" at `{path}`" if path else ""
    if kind == "missing":
        name = path.rsplit(".", 1)[-1] if path else "?"
        return f"Invalid request: missing field `{name}`"
    if kind in _EXPECTED:
        return (
            f"Invalid request: invalid type: {_describe(err['input'])}, "
            f"expected {_EXPECTED[kind]}{where}"
        )
    if kind in ("literal_error", "enum"):
        return (
            f"Invalid request: unknown variant `{err['input']}`, "
            f"expected {_one_of(ctx.get('expected', ''))}{where}"
        )
    if kind == "union_tag_invalid":
        return (
            f"Invalid request: unknown variant `{ctx.get('tag')}`, "
            f"expected {_one_of(ctx.get('expected_tags', ''))}{where}"
        )
    if kind == "union_tag_not_found":
        tag = str(ctx.get("discriminator", "type")).strip(chr(39))
        return f"Invalid request: missing field `{tag}`{where}"
    return f"Invalid request: {path}: {err['msg']}" if path else f"Invalid request: {err['msg']}"
