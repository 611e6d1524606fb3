"""Method table and dispatch: one string method → (params model, handler).

A handler is ``async def handler(ctx: RequestContext, params) -> BaseModel | dict | None``.
``params`` is an instance of the registered params model (or the raw ``dict`` when
the model is ``None``). A missing ``params`` member is treated as ``{}``. A
``BaseModel`` result is dumped ``by_alias=True, mode="json"`` with nulls kept.

Error mapping (the only place requests turn into error codes):

* unknown method → ``-32601`` naming the method;
* params that fail validation → ``-32600`` (as the reference does), message in the reference's style
  (``Invalid request: missing field `threadId` ``);
* :class:`RpcError` from a handler → its code/message/data;
* an exception type registered with :func:`register_error_code` → that code;
* any other exception → ``-32603`` with the exception text, logged to stderr with
  its traceback; the connection keeps serving.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from threadline.protocol import codes
from threadline.protocol.jsonrpc import ErrorObject, JsonObject, RequestId
from threadline.server.errors import RpcError, error_object_for, register_error_code

if TYPE_CHECKING:
    from threadline.server.app import AppServer
    from threadline.server.connection import Connection

__all__ = [
    "AfterResponse",
    "Handler",
    "MethodSpec",
    "MethodTable",
    "RequestContext",
    "RpcError",
    "field_path",
    "format_validation_error",
    "register_error_code",
]

logger = logging.getLogger("threadline.server.dispatch")

P = TypeVar("P", bound=BaseModel)
Result = BaseModel | dict[str, Any] | None
Handler = Callable[["RequestContext", Any], Awaitable[Result]]
AfterResponse = Callable[[], object]
"""A sync or async callable; its (awaited) return value is ignored."""


@dataclass(eq=False)
class RequestContext:
    """What a handler knows about the request it serves."""

    connection: Connection
    server: AppServer
    request_id: RequestId
    method: str
    _after: list[AfterResponse] = field(default_factory=list, repr=False)

    def after_response(self, callback: AfterResponse) -> None:
        """Run ``callback`` (sync or async) right after this request's response is queued.

        Callbacks run in registration order, only when the handler succeeded, and
        before the connection reads its next request. Use it for messages that
        must follow the response (``thread/started`` after ``thread/start``, the
        token-usage replay after ``thread/resume``).
        """
        self._after.append(callback)

    async def run_after_response(self) -> None:
        callbacks, self._after = self._after, []
        for callback in callbacks:
            try:
                outcome = callback()
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.exception("after-response callback of %s failed", self.method)


@dataclass(frozen=True, slots=True)
class MethodSpec:
    method: str
    params_model: type[BaseModel] | None
    handler: Handler


class MethodTable:
    """Registered client→server request methods."""

    def __init__(self) -> None:
        self._specs: dict[str, MethodSpec] = {}

    @overload
    def register(
        self,
        method: str,
        params_model: type[P],
        handler: Callable[[RequestContext, P], Awaitable[Result]],
    ) -> None: ...

    @overload
    def register(
        self,
        method: str,
        params_model: None,
        handler: Callable[[RequestContext, JsonObject], Awaitable[Result]],
    ) -> None: ...

    def register(
        self,
        method: str,
        params_model: type[BaseModel] | None,
        handler: Callable[[RequestContext, Any], Awaitable[Result]],
    ) -> None:
        """Register ``handler`` for ``method``; registering a method twice is an error."""
        if method in self._specs:
            raise ValueError(f"method already registered: {method}")
        self._specs[method] = MethodSpec(method, params_model, handler)

    def get(self, method: str) -> MethodSpec | None:
        return self._specs.get(method)

    def __contains__(self, method: object) -> bool:
        return method in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._specs))

    def __len__(self) -> int:
        return len(self._specs)

    def unknown_method_message(self, method: str) -> str:
        """The reference's wording for an unknown method, listing the methods we serve."""
        known = ", ".join(f"`{name}`" for name in ["initialize", *self])
        return f"Invalid request: unknown variant `{method}`, expected one of {known}"

    async def dispatch(
        self, ctx: RequestContext, params: JsonObject | None
    ) -> tuple[Any, ErrorObject | None]:
        """Run the handler for ``ctx.method``: ``(result, None)`` or ``(None, error)``."""
        spec = self._specs.get(ctx.method)
        if spec is None:
            return None, ErrorObject(
                codes.METHOD_NOT_FOUND, self.unknown_method_message(ctx.method)
            )
        raw = params if params is not None else {}
        parsed: Any = raw
        if spec.params_model is not None:
            try:
                parsed = spec.params_model.model_validate(raw)
            except ValidationError as exc:
                # The reference answers every params error with -32600 (REPORT.md §5).
                return None, ErrorObject(codes.INVALID_REQUEST, format_validation_error(exc, raw))
        try:
            result = await spec.handler(ctx, parsed)
        except Exception as exc:
            error, unexpected = error_object_for(exc)
            if unexpected:
                logger.exception("handler for %s failed", ctx.method)
            return None, error
        if isinstance(result, BaseModel):
            return result.model_dump(by_alias=True, mode="json"), None
        return result, None


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
