"""Errors of the rollout layer (one root: :class:`RolloutError`)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["RolloutClosedError", "RolloutError", "RolloutReadError", "RolloutWriteError"]


class RolloutError(Exception):
    """Root of every error raised by :mod:`threadline.rollout`."""


class RolloutReadError(RolloutError):
    """A rollout file could not be read at all (missing, unreadable)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"failed to load rollout `{path}`: {reason}")
        self.path = path
        self.reason = reason


class RolloutWriteError(RolloutError):
    """Lines could not be written; they stay queued and the next flush retries them."""

    def __init__(self, path: Path, cause: BaseException, pending: int) -> None:
        super().__init__(f"failed to write rollout `{path}`: {cause} ({pending} line(s) pending)")
        self.path = path
        self.cause = cause
        self.pending = pending


class RolloutClosedError(RolloutError):
    """The writer was closed; no further commands are accepted."""
