"""MCP elicitation: a server's ``elicitation/create`` becomes a question to the client.

:class:`ElicitationBridge` is the handler a thread gives its MCP connection manager
(``set_elicitation_handler``). A server that elicits while the model's call of one of
its tools runs asks on behalf of that call (the ``mcpServer/elicitation/request`` carries
its turn); any other elicitation is out-of-band: the thread's elicitation counter is
raised while it is open, so no model request is sampled until the user has answered.

The client's answer goes back as an ``ElicitResult``: ``accept`` with its content,
``decline``, ``cancel``; a reply that is none of these (``{}`` from a client that does not
know the request) is a decline. The schemas the ``mcp`` SDK's ``ctx.elicit(...)`` builds
(pydantic models, with a top-level ``title``) are accepted, not cancelled as Codex 0.169
does: the request carries the schema without the top-level keys the protocol's form
schema does not allow (``title``), the fields themselves unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from threadline.protocol import events as ev

if TYPE_CHECKING:
    import mcp.types as mt

__all__ = ["ElicitationBridge", "ElicitationCounter", "elicit_result"]

Asker = Callable[[ev.ClientAsk, Any, Any], Awaitable[Any]]
"""``(request, started_item, on_decision) -> answer``: the thread's ``ask``."""


class ElicitationCounter(Protocol):
    def increment_elicitation(self) -> int: ...
    def decrement_elicitation(self) -> int: ...


_FORM_SCHEMA_KEYS = frozenset({"$schema", "type", "properties", "required"})
"""What a ``form`` request's ``requestedSchema`` may hold at its top level (the MCP
2025-11-25 shape the app-server schema allows); the rest (the SDK's ``title``) is dropped."""


@dataclass(frozen=True, slots=True)
class _Call:
    turn_id: str
    item_id: str


def elicit_result(answer: Any) -> mt.ElicitResult:
    """The client's answer object as the MCP server gets it."""
    import mcp.types as mt  # the SDK loads with the first MCP server, not at start-up

    action = answer.get("action") if isinstance(answer, dict) else None
    if action == "accept":
        content = answer.get("content")
        return mt.ElicitResult(
            action="accept", content=content if isinstance(content, dict) else {}
        )
    if action == "cancel":
        return mt.ElicitResult(action="cancel")
    return mt.ElicitResult(action="decline")


class ElicitationBridge:
    """Routes every server's elicitations to the thread's client ask."""

    def __init__(self, ask: Asker, counter: ElicitationCounter | None = None) -> None:
        self._ask = ask
        self._counter = counter
        self._calls: dict[str, list[_Call]] = {}
        self._approved: set[tuple[str, str]] = set()
        """Tools the user allowed for the rest of the session (``persist: session``)."""

    def approved_for_session(self, server: str, tool: str) -> bool:
        return (server, tool) in self._approved

    async def ask_tool_approval(
        self,
        server: str,
        tool: str,
        *,
        turn_id: str,
        item_id: str,
        message: str,
        meta: dict[str, Any],
    ) -> str:
        """Put a tool call to the user as Codex does: an ``mcpServer/elicitation/request``
        with an empty form and the ``codex_approval_kind: mcp_tool_call`` meta. Returns
        ``accept``, ``decline`` or ``cancel`` (a reply that is none of them declines). An
        accept whose ``_meta.persist`` is ``session`` or ``always`` allows the tool for the
        rest of this session; ``always`` returns ``accept-always`` (the caller persists it)."""
        request = ev.McpElicitationRequest(
            approval_id=uuid.uuid4().hex,
            turn_id=turn_id,
            item_id=item_id,
            server_name=server,
            mode="form",
            message=message,
            requested_schema={"type": "object", "properties": {}},
            meta=meta,
        )
        answer = await self._ask(request, None, None)
        action = answer.get("action") if isinstance(answer, dict) else None
        if action not in ("accept", "cancel"):
            return "decline"
        if action == "accept":
            reply_meta = answer.get("_meta") if isinstance(answer, dict) else None
            persist = reply_meta.get("persist") if isinstance(reply_meta, dict) else None
            if persist in ("session", "always"):
                self._approved.add((server, tool))
            if persist == "always":
                return "accept-always"
        return str(action)

    @contextmanager
    def in_call(self, server: str, turn_id: str, item_id: str) -> Iterator[None]:
        """While the model's call ``item_id`` of a ``server`` tool runs."""
        call = _Call(turn_id, item_id)
        self._calls.setdefault(server, []).append(call)
        try:
            yield
        finally:
            calls = self._calls.get(server, [])
            if call in calls:
                calls.remove(call)
            if not calls:
                self._calls.pop(server, None)

    def _request(self, server: str, params: Any, call: _Call | None) -> ev.McpElicitationRequest:
        mode = getattr(params, "mode", None) or "form"
        schema: Any = getattr(params, "requested_schema", getattr(params, "requestedSchema", None))
        dump = getattr(schema, "model_dump", None)
        if dump is not None:
            schema = dump(by_alias=True, exclude_none=True, mode="json")
        if mode == "form" and isinstance(schema, dict):
            schema = {k: v for k, v in schema.items() if k in _FORM_SCHEMA_KEYS}
        return ev.McpElicitationRequest(
            approval_id=uuid.uuid4().hex,
            turn_id=call.turn_id if call else "",
            item_id=call.item_id if call else "",
            server_name=server,
            mode=mode,
            message=str(getattr(params, "message", "")),
            requested_schema=schema if mode != "url" else None,
            url=getattr(params, "url", None),
            elicitation_id=getattr(
                params, "elicitation_id", getattr(params, "elicitationId", None)
            ),
            meta=_meta_of(params),
        )

    async def __call__(self, server: str, params: Any) -> mt.ElicitResult:
        calls = self._calls.get(server)
        call = calls[-1] if calls else None
        request = self._request(server, params, call)
        if call is not None or self._counter is None:
            return elicit_result(await self._ask(request, None, None))
        self._counter.increment_elicitation()
        try:
            return elicit_result(await self._ask(request, None, None))
        finally:
            self._counter.decrement_elicitation()


def _meta_of(params: Any) -> Any:
    meta = getattr(params, "meta", None)
    if meta is None:
        return None
    if hasattr(meta, "model_dump"):
        return meta.model_dump(by_alias=True, exclude_none=True, mode="json") or None
    return meta
