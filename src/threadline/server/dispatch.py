"""Method table and dispatch: one string method → its handler, typed by ``protocol.methods``.

The params and response types of a method come from :mod:`threadline.protocol.methods`
(the one place they are declared); the server only says which handler answers which
method (``handlers/__init__.py``). A handler is
``async def handler(ctx: RequestContext, params: <Params>) -> <Response>``; registering
checks that its annotations name the table's types.

:meth:`MethodTable.dispatch` validates ``params`` against the params type (a missing
``params`` member is treated as ``{}``), runs the handler and serializes its Response
model (``by_alias=True``, JSON values, nulls kept). Failures become JSON-RPC errors in
one place, :mod:`threadline.server.errors`; an unknown method is ``-32601`` naming it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from threadline.protocol import codes
from threadline.protocol.jsonrpc import ErrorObject, JsonObject, RequestId
from threadline.protocol.methods import client_request_types
from threadline.protocol.records import record
from threadline.server.errors import error_object_for, invalid_params

__all__ = ["AfterResponse", "Handler", "MethodSpec", "MethodTable", "RequestContext"]

logger = logging.getLogger("threadline.server.dispatch")

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
Handler = Callable[["RequestContext", Any], Awaitable[BaseModel]]
AfterResponse = Callable[[], object]
"""A sync or async callable; its (awaited) return value is ignored."""


class RequestContext(Protocol):
    """What a handler knows about the request it serves and may do on its connection.

    The connection implements it; handlers depend on this and nothing else of the
    connection or the server (broadcasts go through the handlers' runtime).
    """

    @property
    def connection_id(self) -> int:
        """The connection the request came on (what the router subscribes)."""
        ...

    @property
    def request_id(self) -> RequestId: ...

    @property
    def method(self) -> str: ...

    @property
    def trace(self) -> dict[str, Any] | None:
        """The request's W3C trace context (the envelope's ``trace``), if any."""
        ...

    @property
    def client_name(self) -> str | None:
        """``clientInfo.name`` of the connection's ``initialize``."""
        ...

    @property
    def client_version(self) -> str | None: ...

    def send_notification(self, method: str, params: Any) -> bool:
        """Queue a notification to this connection (unless it opted out of ``method``)."""
        ...

    def send_request(self, method: str, params: Any) -> asyncio.Future[Any]:
        """Send a server→client request on this connection; the future gets the answer."""
        ...

    def after_response(self, callback: AfterResponse) -> None:
        """Run ``callback`` (sync or async) right after this request's response is queued.

        Callbacks run in registration order, only when the handler succeeded, and
        before the connection reads its next request. Use it for messages that
        must follow the response (``thread/started`` after ``thread/start``, the
        token-usage replay after ``thread/resume``).
        """
        ...


@record
class MethodSpec:
    method: str
    params_type: type[BaseModel]
    response_type: type[BaseModel]
    handler: Handler
    detached: bool = False
    """The connection serves later requests while this one runs (its answer comes when
    the handler returns); closing the connection cancels it."""


def _check_annotations(
    method: str, handler: Callable[..., object], params: type[BaseModel], response: type[BaseModel]
) -> None:
    """Refuse a handler whose annotations name other types than the table's.

    Annotations that cannot be resolved here (names local to a test function) are
    not checked.
    """
    try:
        signature = inspect.signature(handler, eval_str=True)
    except NameError:
        return
    *_, last = signature.parameters.values()
    annotated = last.annotation
    if annotated is not inspect.Parameter.empty and annotated is not params:
        raise TypeError(f"handler for {method} takes {annotated}, the table says {params}")
    returned = signature.return_annotation
    if returned is not inspect.Signature.empty and returned is not response:
        raise TypeError(f"handler for {method} returns {returned}, the table says {response}")


class MethodTable:
    """Registered client→server request methods."""

    def __init__(self) -> None:
        self._specs: dict[str, MethodSpec] = {}
        self._lazy: dict[str, tuple[Callable[[], Handler], bool]] = {}
        self._complete: Callable[[], None] | None = None

    def register(
        self,
        method: str,
        handler: Callable[[RequestContext, P], Awaitable[R]],
        *,
        detached: bool = False,
    ) -> None:
        """Answer ``method`` with ``handler``; its types are ``protocol.methods``' entry.

        A method that is not in the protocol's table, or registered twice, is an error.
        ``detached``: see :attr:`MethodSpec.detached`.
        """
        types = client_request_types(method)
        if types is None:
            raise ValueError(f"method not in threadline.protocol.methods: {method}")
        self._add(method, types[0], types[1], handler, detached=detached)

    def register_lazy(
        self, method: str, resolve: Callable[[], Handler], *, detached: bool = False
    ) -> None:
        """Answer ``method`` with the handler ``resolve()`` returns, called (and the method's
        types imported, the handler checked as :meth:`register` does) when the method is
        first looked up: a process start then imports none of the handler modules."""
        if method in self._specs or method in self._lazy:
            raise ValueError(f"method already registered: {method}")
        self._lazy[method] = (resolve, detached)

    def complete_with(self, register_missing: Callable[[], None]) -> None:
        """``register_missing()`` registers, when a method is not found (or the whole table
        is listed), any method the lazy rows do not name; it runs once."""
        self._complete = register_missing

    def _resolve(self, method: str) -> MethodSpec | None:
        spec = self._specs.get(method)
        if spec is not None:
            return spec
        lazy = self._lazy.get(method)
        if lazy is not None:
            resolve, detached = lazy
            types = client_request_types(method)
            if types is None:
                raise ValueError(f"method not in threadline.protocol.methods: {method}")
            handler = resolve()
            _check_annotations(method, handler, types[0], types[1])
            spec = MethodSpec(method, types[0], types[1], handler, detached)
            self._specs[method] = spec
            del self._lazy[method]
            return spec
        complete = self._complete
        if complete is not None:
            self._complete = None
            complete()
            return self._resolve(method)
        return None

    def _names(self) -> list[str]:
        complete = self._complete
        if complete is not None:
            self._complete = None
            complete()
        return sorted({*self._specs, *self._lazy})

    def register_unlisted(
        self,
        method: str,
        params_type: type[P],
        response_type: type[R],
        handler: Callable[[RequestContext, P], Awaitable[R]],
    ) -> None:
        """Answer a method that is not part of the protocol (test-only methods), with the
        types given here."""
        if client_request_types(method) is not None:
            raise ValueError(f"method is in threadline.protocol.methods: {method}")
        self._add(method, params_type, response_type, handler)

    def _add(
        self,
        method: str,
        params_type: type[BaseModel],
        response_type: type[BaseModel],
        handler: Callable[[RequestContext, Any], Awaitable[BaseModel]],
        *,
        detached: bool = False,
    ) -> None:
        if method in self._specs or method in self._lazy:
            raise ValueError(f"method already registered: {method}")
        _check_annotations(method, handler, params_type, response_type)
        self._specs[method] = MethodSpec(method, params_type, response_type, handler, detached)

    def is_detached(self, method: str) -> bool:
        """Whether ``method`` is served without holding up the connection's next requests."""
        spec = self._specs.get(method)
        if spec is not None:
            return spec.detached
        lazy = self._lazy.get(method)
        return lazy is not None and lazy[1]

    def get(self, method: str) -> MethodSpec | None:
        return self._resolve(method)

    def __contains__(self, method: object) -> bool:
        return isinstance(method, str) and (
            method in self._specs or method in self._lazy or self._resolve(method) is not None
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def unknown_method_message(self, method: str) -> str:
        """The reference's wording for an unknown method, listing the methods we serve."""
        known = ", ".join(f"`{name}`" for name in ["initialize", *self])
        return f"Invalid request: unknown variant `{method}`, expected one of {known}"

    async def dispatch(
        self, ctx: RequestContext, params: JsonObject | None
    ) -> tuple[Any, ErrorObject | None]:
        """Run the handler for ``ctx.method``: ``(result, None)`` or ``(None, error)``."""
        try:
            spec = self._specs.get(ctx.method) or self._resolve(ctx.method)
        except Exception as exc:  # a handler module that fails to import
            logger.exception("handler for %s could not be loaded", ctx.method)
            return None, error_object_for(exc)[0]
        if spec is None:
            return None, ErrorObject(
                codes.METHOD_NOT_FOUND, self.unknown_method_message(ctx.method)
            )
        raw = params if params is not None else {}
        try:
            parsed = spec.params_type.model_validate(raw)
        except ValidationError as exc:
            return None, invalid_params(exc, raw)
        try:
            result = await spec.handler(ctx, parsed)
            if not isinstance(result, spec.response_type):
                raise TypeError(
                    f"the handler returned {type(result).__name__}, "
                    f"not {spec.response_type.__name__}"
                )
        except Exception as exc:
            error, unexpected = error_object_for(exc)
            if unexpected:
                logger.exception("handler for %s failed", ctx.method)
            return None, error
        return result, None  # the model: the connection serializes it (send_response)
