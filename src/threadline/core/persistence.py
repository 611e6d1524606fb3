"""Loading rollouts for resume/fork/read and keeping the index current.

Everything here runs blocking file work off the event loop. The manager uses
:func:`load_rollout` to turn a rollout file into a :class:`Restored` bundle,
:func:`fork_lines` to prepare the lines a fork copies, and :class:`IndexKeeper`
to write index rows as threads change.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from threadline.core.errors import InvalidRequest
from threadline.core.turn import TURN_ABORTED_MESSAGE
from threadline.protocol import events as ev
from threadline.protocol.items import dump_response_item, user_text_message
from threadline.protocol.rollout import RolloutLine, format_rollout_timestamp
from threadline.rollout.errors import RolloutReadError
from threadline.rollout.files import rollout_file_problem
from threadline.rollout.history import Reconstruction, reconstruct
from threadline.rollout.paths import is_inside
from threadline.rollout.reader import RolloutFile, read_rollout
from threadline.store.base import (
    MAX_LIST_LIMIT,
    GitRecord,
    ListPage,
    ListQuery,
    ThreadRecord,
    ThreadStore,
)

__all__ = [
    "MAX_LIST_LIMIT",
    "IndexKeeper",
    "ListPage",
    "ListQuery",
    "Restored",
    "ThreadRecord",
    "fork_lines",
    "load_rollout",
    "record_for",
]

if TYPE_CHECKING:
    from threadline.core.thread import Thread

log = logging.getLogger(__name__)


@dataclass
class Restored:
    """A rollout read from disk and rebuilt."""

    path: Path
    rollout: RolloutFile
    recon: Reconstruction

    @property
    def thread_id(self) -> str:
        assert self.recon.meta is not None
        return self.recon.meta.id


def check_thread_id(thread_id: str) -> str:
    """Validate a thread id as Codex does (a UUID, optionally ``urn:uuid:`` prefixed)."""
    value = thread_id.strip()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRequest(f"invalid thread id: {thread_id}") from None


def check_rollout_path(home: Path, raw: str) -> Path:
    """A client-supplied rollout path must be a ``.jsonl`` file under our sessions dirs."""
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise InvalidRequest(f"rollout path must be absolute: {raw}")
    if not is_inside(home, path, follow_final=False):
        raise InvalidRequest(
            f"rollout path `{raw}` is outside the sessions directories of {home}"
        )
    if path.suffix != ".jsonl":
        raise InvalidRequest(f"rollout path `{raw}` is not a .jsonl rollout file")
    problem = rollout_file_problem(path)
    if problem is not None and problem != "no such file":  # a missing file: the caller says so
        raise InvalidRequest(f"failed to load rollout `{raw}`: {problem}")
    return path


async def load_rollout(path: Path, *, live: bool = False) -> Restored:
    """Read and rebuild ``path``; errors name the file and the problem."""

    def work() -> Restored:
        rollout = read_rollout(path)
        if rollout.meta is None:
            if not rollout.lines:
                raise InvalidRequest(f"failed to load rollout `{path}`: empty file")
            raise InvalidRequest(
                f"failed to load rollout `{path}`: failed to parse thread ID from rollout file"
            )
        return Restored(path=path, rollout=rollout, recon=reconstruct(rollout, live=live))

    try:
        return await asyncio.to_thread(work)
    except RolloutReadError as exc:
        raise InvalidRequest(f"failed to load rollout `{path}`: {exc}") from exc
    except FileNotFoundError as exc:
        raise InvalidRequest(f"failed to load rollout `{path}`: no such file") from exc


def fork_lines(restored: Restored) -> tuple[list[RolloutLine], bool]:
    """The lines a fork copies, re-stamped, plus whether an interruption marker was added.

    A source that ends mid-turn gets the same marker a real interrupt writes: the
    ``<turn_aborted>`` user message (``core.turn.TURN_ABORTED_MESSAGE``, one text for
    both) and a ``turn_aborted`` event for the open turn.
    """
    stamp = format_rollout_timestamp(datetime.now(UTC))
    lines = [
        line.model_copy(update={"timestamp": stamp, "ordinal": None})
        for line in restored.rollout.lines
    ]
    open_turn = restored.recon.open_turn_id
    if open_turn is None:
        return lines, False
    marker = user_text_message(TURN_ABORTED_MESSAGE)
    lines.append(
        RolloutLine(timestamp=stamp, type="response_item", payload=dump_response_item(marker))
    )
    lines.append(
        RolloutLine(
            timestamp=stamp,
            type="event_msg",
            payload={"type": "turn_aborted", "turn_id": open_turn, "reason": "interrupted"},
        )
    )
    return lines, True


def ms_of_timestamp(value: str | None, fallback: float) -> int:
    if value:
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    return int(fallback * 1000)


def record_for(
    thread: Thread,
    path: Path,
    *,
    cli_version: str = "",
    git: GitRecord | None = None,
    archived: bool = False,
) -> ThreadRecord:
    """The index row describing a live thread."""
    s = thread.settings
    info = thread.token_usage_info()
    return ThreadRecord(
        id=thread.id,
        rollout_path=path,
        created_at_ms=int(thread.created_at * 1000),
        updated_at_ms=int(thread.updated_at * 1000),
        source=s.session_source,
        model_provider=s.model_provider,
        cwd=s.cwd,
        cli_version=cli_version,
        originator=s.originator,
        name=thread.name,
        preview=thread.preview,
        archived=archived,
        forked_from_id=thread.forked_from_id,
        memory_mode=thread.memory_mode,
        tokens_used=info.total_token_usage.total_tokens if info is not None else 0,
        model=s.model,
        reasoning_effort=s.reasoning_effort,
        git=git,
    )


class IndexKeeper:
    """Writes a thread's index row whenever its rollout changes, one write at a time.

    Attached as a thread listener: a user message (the file now exists), a
    finished turn, a rename or a memory-mode change each schedule an upsert.
    Writes for one thread are chained so an older row never overwrites a newer one.
    """

    _TRIGGERS = (ev.UserMessage, ev.TurnCompletedEvent)

    def __init__(self, store: ThreadStore, cli_version: str) -> None:
        self._store = store
        self._cli_version = cli_version
        self._git: dict[str, GitRecord | None] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._all: set[asyncio.Task[None]] = set()

    def attach(self, thread: Thread, *, git: GitRecord | None = None) -> Callable[[], None]:
        self._git[thread.id] = git

        def on_event(event: ev.Event) -> None:
            if isinstance(event.msg, self._TRIGGERS):
                self.schedule(thread)

        return thread.add_listener(on_event)

    def forget(self, thread_id: str) -> None:
        self._git.pop(thread_id, None)
        self._tails.pop(thread_id, None)

    def schedule(self, thread: Thread) -> None:
        if thread.settings.ephemeral:
            return
        previous = self._tails.get(thread.id)
        task = asyncio.get_running_loop().create_task(self._write(thread, previous))
        self._tails[thread.id] = task
        self._all.add(task)
        task.add_done_callback(self._all.discard)

    async def _write(self, thread: Thread, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            try:
                await previous
            except Exception:
                pass
        path = thread.rollout_path()
        if path is None or not thread.rollout_materialized:
            return
        try:
            record = record_for(
                thread, path, cli_version=self._cli_version, git=self._git.get(thread.id)
            )
            await self._store.upsert(record)
        except Exception:
            log.exception("index update for thread %s failed", thread.id)

    async def drain(self) -> None:
        """Wait for every scheduled write (used at shutdown and by tests)."""
        while self._all:
            await asyncio.gather(*list(self._all), return_exceptions=True)
