"""``thread/read``'s turns of a local rollout (``LocalThreadStore.all_turns``).

The turns-only read (:func:`threadline.rollout.turns_only.read_turns_only`) needs the
rollout reader and the turn builder, not what :mod:`threadline.store.rollouts` brings
with it (the model-history replay, the offset index, the writer): a process whose first
request is a ``thread/read`` imports that module only when a file has to be loaded whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar, cast

from threadline.protocol.v2.turn import Turn
from threadline.rollout.errors import RolloutReadError
from threadline.rollout.gc_pause import gc_paused
from threadline.rollout.turns_only import read_turns_only
from threadline.store.base import StoredRef, StoreError

__all__ = ["all_turns", "off_loop"]

T = TypeVar("T")


async def off_loop(path: Path, work: Callable[[], T]) -> T:
    """``work()`` in a worker thread; read errors become the :class:`StoreError` a
    client sees (naming the file and the problem)."""
    try:
        return await asyncio.to_thread(work)
    except RolloutReadError as exc:
        raise StoreError(f"failed to load rollout `{path}`: {exc}") from exc
    except FileNotFoundError as exc:
        raise StoreError(f"failed to load rollout `{path}`: no such file") from exc


async def all_turns(ref: StoredRef) -> list[Turn]:
    """Every turn of the rollout at ``ref``, as ``store.rollouts.load_history`` rebuilds
    them (``live`` off), decoding only the lines turns are made of; a file that cannot
    be read that way is loaded whole.

    The turns read the short way are usually a ``TurnsJson`` (checked, kept as wire
    JSON): ``thread/read`` only hands them on to its answer. It stands for the list it
    returns as a read-only sequence; reading a turn builds the models."""
    path = ref.path
    assert path is not None

    def work() -> Sequence[Turn] | None:
        with gc_paused():
            return read_turns_only(path)

    turns = await off_loop(path, work)
    if turns is not None:
        return cast("list[Turn]", turns)
    from threadline.store.rollouts import load_history  # the whole load, when needed

    return (await load_history(ref)).recon.turns
