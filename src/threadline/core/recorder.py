"""The rollout sink a thread writes to (backed by ``store``; a null sink for ephemeral threads)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from threadline.protocol.rollout import RolloutItem


class RolloutSink(Protocol):
    @property
    def path(self) -> Path | None: ...

    @property
    def materialized(self) -> bool: ...

    async def append(self, items: Sequence[RolloutItem]) -> None:
        """Queue items, filtered by the persistence policy (kept in memory until materialized)."""
        ...

    async def materialize(self) -> None:
        """Create the file now: ``session_meta`` first, then anything buffered."""
        ...

    async def flush(self) -> None:
        """Write everything queued; raises the write error if the disk refuses (the suffix is kept)."""
        ...

    async def close(self) -> None: ...


class NullSink:
    """Ephemeral threads: nothing is written, nothing is listed."""

    @property
    def path(self) -> Path | None:
        return None

    @property
    def materialized(self) -> bool:
        return False

    async def append(self, items: Sequence[RolloutItem]) -> None:
        return None

    async def materialize(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None
