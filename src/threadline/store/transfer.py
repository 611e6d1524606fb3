"""A stored thread as one standalone rollout file (``threadline threads export``), on any store.

The thread's lines are the records a rollout file holds; a paginated fork (whose file
refers to its parent's lines) gets them inlined the way a legacy fork file holds them:
its own ``session_meta``, the inherited lines, then the rest of its own lines. Codex
resumes the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline.protocol.rollout import RolloutLine, dump_line_json
from threadline.rollout.reader import RolloutFile
from threadline.store.base import ThreadStore

__all__ = ["ExportedThread", "export_thread", "standalone_lines"]


@dataclass(frozen=True, slots=True)
class ExportedThread:
    thread_id: str
    file_name: str
    """Codex's name for the rollout (``rollout-<time>-<id>.jsonl``)."""
    text: str
    """The rollout: one JSON record a line, newline-terminated."""


def standalone_lines(rollout: RolloutFile) -> list[RolloutLine]:
    if rollout.own_start == 0:
        return list(rollout.lines)
    own = rollout.own_lines
    head, rest = (own[:1], own[1:]) if own and own[0].type == "session_meta" else ([], own)
    return [*head, *rollout.lines[: rollout.own_start], *rest]


async def export_thread(store: ThreadStore, thread_id: str) -> ExportedThread:
    ref = await store.locate(thread_id)
    stored = await store.load_history(ref)
    native = stored.native
    lines = standalone_lines(native) if isinstance(native, RolloutFile) else list(stored.lines)
    if ref.path is not None:
        name = ref.path.name
    else:
        stamp = stored.meta.timestamp[:19].replace(":", "-")
        name = f"rollout-{stamp}-{stored.thread_id}.jsonl"
    text = "".join(dump_line_json(line) + "\n" for line in lines)
    return ExportedThread(stored.thread_id, name, text)
