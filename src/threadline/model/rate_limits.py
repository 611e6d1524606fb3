"""The rate-limit headers of each provider's last response (for ``account/rateLimits/read``).

OpenAI-style servers send ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``
(``reset`` as a duration such as ``6m0s`` or ``20ms``); Codex's backend sends
``x-codex-{primary,secondary}-{used-percent,window-minutes,reset-at}``. Either set becomes a
:class:`RateLimits` with a primary (requests) and secondary (tokens) window. The record is
per process, by provider id, and holds only the last response that carried such headers.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping

from threadline.protocol import records

__all__ = ["RateLimitWindow", "RateLimits", "latest", "record", "record_failure"]


@records.record
class RateLimitWindow:
    used_percent: int
    resets_at: int | None = None
    """Unix seconds."""
    window_minutes: int | None = None


@records.record
class RateLimits:
    provider_id: str
    primary: RateLimitWindow | None
    secondary: RateLimitWindow | None
    observed_at: float


_LOCK = threading.Lock()
_LATEST: dict[str, RateLimits] = {}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration_s(text: str) -> float | None:
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None


def _openai_window(h: Mapping[str, str], kind: str, now: float) -> RateLimitWindow | None:
    limit = _int(h.get(f"x-ratelimit-limit-{kind}"))
    remaining = _int(h.get(f"x-ratelimit-remaining-{kind}"))
    if limit is None or remaining is None or limit <= 0:
        return None
    used = max(0, min(100, round(100 * (limit - remaining) / limit)))
    reset = h.get(f"x-ratelimit-reset-{kind}")
    seconds = _duration_s(reset) if reset is not None else None
    resets_at = int(now + seconds) if seconds is not None else None
    return RateLimitWindow(used_percent=used, resets_at=resets_at)


def _codex_window(h: Mapping[str, str], which: str) -> RateLimitWindow | None:
    used = _int(h.get(f"x-codex-{which}-used-percent"))
    if used is None:
        return None
    return RateLimitWindow(
        used_percent=used,
        resets_at=_int(h.get(f"x-codex-{which}-reset-at")),
        window_minutes=_int(h.get(f"x-codex-{which}-window-minutes")),
    )


def record(provider_id: str, headers: Mapping[str, str]) -> None:
    """Note the rate-limit headers of a response from ``provider_id`` (none: no change)."""
    lower = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-")}
    now = time.time()
    primary = _codex_window(lower, "primary") or _openai_window(lower, "requests", now)
    secondary = _codex_window(lower, "secondary") or _openai_window(lower, "tokens", now)
    if primary is None and secondary is None:
        return
    with _LOCK:
        _LATEST[provider_id] = RateLimits(provider_id, primary, secondary, now)


def latest(provider_id: str) -> RateLimits | None:
    """The last rate limits ``provider_id`` reported in this process."""
    with _LOCK:
        return _LATEST.get(provider_id)


def record_failure(provider_id: str, error: BaseException) -> None:
    """Note the rate-limit headers of a refused request (a 429 carries the reset times)."""
    headers = getattr(getattr(error, "response", None), "headers", None)
    if isinstance(headers, Mapping):
        record(provider_id, headers)
