"""ThreadManager: owns every loaded thread (start, resume, fork, get, unload)."""

from __future__ import annotations


class ThreadManager:
    """The live-thread map. Filled in by the core runtime; this is its public face."""

    def __init__(self) -> None:
        self._threads: dict[str, object] = {}

    def list_loaded(self) -> list[str]:
        """Ids of every thread loaded in this process, oldest first."""
        return list(self._threads)
