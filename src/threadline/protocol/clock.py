"""Wall-clock stamps as the protocol and the rollout carry them.

Both Codex formats use them: v2 items and turns carry Unix milliseconds
(``startedAtMs``), rollout lines carry RFC 3339 timestamps (``2026-01-02T03:04:05.678Z``).
"""

from __future__ import annotations

import time
from datetime import datetime


def now_ms() -> int:
    """The current time in Unix milliseconds."""
    return time.time_ns() // 1_000_000


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp as Codex writes it (``Z`` or an offset) → an aware ``datetime``.

    Raises ``ValueError`` when ``text`` is not one.
    """
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


__all__ = ["now_ms", "parse_timestamp"]
