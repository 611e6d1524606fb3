"""The turn adapters (``rollout.turns``' and ``protocol.v2.lazy_fields``') complete
``Turn`` before they are built (``LazyTypeAdapter(built_first=...)``), so the first
answer that serializes turns finds ``Turn``'s own serializer ready instead of generating
the item union's schema again; the bytes are those of a serializer built on its own."""

from __future__ import annotations

import subprocess
import sys

from pydantic import BaseModel

from threadline.protocol.lazy_adapter import LazyTypeAdapter

_FRESH = """
import pydantic_core
from threadline.protocol.v2.turn import Turn
assert not Turn.__pydantic_complete__
{setup}
assert Turn.__pydantic_complete__, "Turn left to its first serialization"
print(pydantic_core.to_json(turns).decode())
"""

_BUILDER = """
from threadline.rollout.turns import TurnBuilder
builder = TurnBuilder()
builder.feed_record(0, "event_msg", {"type": "task_started", "turn_id": "t1"})
builder.feed_record(1, "event_msg", {"type": "user_message", "message": "hi"})
builder.feed_record(2, "event_msg", {"type": "agent_message", "message": "yo"})
builder.feed_record(3, "event_msg", {"type": "task_complete", "turn_id": "t1"})
turns = builder.finish()
"""

_THREAD_FIELD = """
from threadline.protocol.v2.thread_ops import ThreadTurnsListResponse
page = ThreadTurnsListResponse.model_validate({"data": [{"id": "t1", "status": "completed",
    "items": [{"type": "agentMessage", "id": "item-1", "text": "yo"}]}]})
turns = page.data
"""


def _run(setup: str) -> str:
    code = _FRESH.format(setup=setup)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_builders_turns_find_turn_built() -> None:
    out = _run(_BUILDER)
    assert '"id":"t1"' in out and '"text":"yo"' in out


def test_the_lazy_turns_field_finds_turn_built() -> None:
    out = _run(_THREAD_FIELD)
    assert out.startswith('[{"id":"t1","items":[{"id":"item-1","text":"yo","type":"agentMessage"')


class _Deferred(BaseModel):
    model_config = {"defer_build": True}
    value: int


def test_built_first_models_are_complete_after_the_first_use() -> None:
    adapter: LazyTypeAdapter[list[_Deferred]] = LazyTypeAdapter(
        list[_Deferred], built_first=(_Deferred,)
    )
    assert not _Deferred.__pydantic_complete__
    assert adapter.validate_python([{"value": 1}]) == [_Deferred(value=1)]
    assert _Deferred.__pydantic_complete__
