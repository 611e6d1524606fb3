"""What the relay carries, as JSON text: core events, operations and their answers.

An event is ``{"i": event id, "m": its message}``; the message is the event's own dump
(``type`` tag, snake_case members, the v2 items and turns it carries in their wire
form), so the decoded event is the owner's, field for field, and the server on the
watcher's side turns it into the very notification the owner's server sends.

An operation is ``{"k": kind, ...}``; its answer ``{"ok": value}`` or ``{"err": {...}}``
with what the owner's server would have answered (a core error's message and data, a
store error's message, the text of an internal error).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from pydantic import BaseModel

from threadline.core.errors import CoreError, InvalidRequest
from threadline.protocol import events as ev
from threadline.protocol.ops import TurnOverrides, UserTurn
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.item import thread_item_adapter, user_input_adapter
from threadline.protocol.v2.turn import Turn
from threadline.store.base import StoreError

__all__ = [
    "decode_answer",
    "decode_event",
    "decode_user_turn",
    "encode_error",
    "encode_event",
    "encode_user_turn",
]

_TYPES: dict[str, type[Any]] = {}


def _types() -> dict[str, type[Any]]:
    if not _TYPES:
        for cls in typing.get_args(ev.EventMsg):
            if dataclasses.is_dataclass(cls):
                tag = next(f.default for f in dataclasses.fields(cls) if f.name == "type")
            else:
                tag = cls.model_fields["type"].default
            _TYPES[str(tag)] = cls
    return _TYPES


def encode_event(event: ev.Event) -> str:
    msg: Any = event.msg
    if isinstance(msg, BaseModel):
        body = msg.model_dump(mode="json", by_alias=True)
    else:  # a streamed delta: a slotted record of plain strings and ints
        body = msg.payload()
    return json.dumps({"i": event.id, "m": body}, separators=(",", ":"))


def decode_event(text: str) -> ev.Event:
    raw = json.loads(text)
    body: dict[str, Any] = raw["m"]
    cls = _types().get(str(body.get("type")))
    if cls is None:
        raise ValueError(f"unknown relayed event type {body.get('type')!r}")
    if dataclasses.is_dataclass(cls):
        names = {f.name for f in dataclasses.fields(cls)}
        delta: Any = cls(**{k: v for k, v in body.items() if k in names})
        return ev.Event(raw["i"], delta)
    msg = cls.model_validate(body)
    if "item" in cls.model_fields and isinstance(body.get("item"), dict):
        msg.item = thread_item_adapter.validate_python(body["item"])
    if "turn" in cls.model_fields and isinstance(body.get("turn"), dict):
        msg.turn = Turn.model_validate(body["turn"])
    return ev.Event(raw["i"], msg)


def encode_user_turn(op: UserTurn, output_schema: Any) -> dict[str, Any]:
    items = [dump_wire(i) if isinstance(i, BaseModel) else i for i in op.items]
    return {
        "k": "start",
        "items": items,
        "overrides": dataclasses.asdict(op.overrides),
        "cid": op.client_user_message_id,
        "schema": output_schema,
    }


def decode_user_turn(body: dict[str, Any]) -> tuple[UserTurn, Any]:
    items = [user_input_adapter.validate_python(i) for i in body.get("items") or []]
    op = UserTurn(
        items=items,
        overrides=TurnOverrides(**(body.get("overrides") or {})),
        client_user_message_id=body.get("cid"),
    )
    return op, body.get("schema")


def encode_error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, CoreError):
        return {"err": {"kind": "core", "message": exc.message, "data": exc.data}}
    if isinstance(exc, StoreError):
        return {"err": {"kind": "store", "message": exc.message}}
    return {"err": {"kind": "internal", "message": str(exc) or type(exc).__name__}}


class RelayedInternalError(RuntimeError):
    """The owner failed unexpectedly; the text is its error's, so the client reads what
    a client of the owner would (``Internal error: <text>``)."""


def decode_answer(answer: dict[str, Any]) -> Any:
    """The value of an answer, or the owner's error raised as the same kind of error."""
    if "err" not in answer:
        return answer.get("ok")
    err = answer["err"]
    kind, message = err.get("kind"), str(err.get("message"))
    if kind == "core":
        raise InvalidRequest(message, data=err.get("data"))
    if kind == "store":
        raise StoreError(message)
    raise RelayedInternalError(message)
