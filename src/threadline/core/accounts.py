"""API-key login, stored as Codex stores it: ``<home>/auth.json``, mode 0600.

The file holds ``{"auth_mode": "apikey", "OPENAI_API_KEY": "<key>"}``, as Codex 0.169 writes
it. The key is used for the built-in ``openai`` provider when the ``OPENAI_API_KEY`` variable
is not set (``core.providers`` asks :func:`stored_api_key`).
ChatGPT (OAuth) logins do not exist in threadline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.core.errors import InvalidRequest, ThreadNotFound, storing
from threadline.core.storage import MAX_LIST_LIMIT, ListQuery
from threadline.model import rate_limits
from threadline.model.rate_limits import RateLimits

if TYPE_CHECKING:
    from threadline.core.manager import ThreadManager

__all__ = [
    "AUTH_FILE",
    "RateLimits",
    "clear_login",
    "latest_rate_limits",
    "recorded_tokens",
    "save_api_key",
    "stored_api_key",
]

AUTH_FILE = "auth.json"


def _path(home: Path) -> Path:
    return home / AUTH_FILE


def _read(home: Path) -> dict[str, Any] | None:
    try:
        raw = _path(home).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def stored_api_key(home: Path) -> str | None:
    """The API key of the stored login, if there is one."""
    data = _read(home)
    key = data.get("OPENAI_API_KEY") if data is not None else None
    return key if isinstance(key, str) and key else None


def save_api_key(home: Path, api_key: str) -> None:
    """Store ``api_key`` as the login (replacing any), readable by the owner only.

    The file is written beside the old one and renamed over it; a symlink planted at
    ``auth.json`` is replaced, never followed.
    """
    if not api_key.strip():
        raise InvalidRequest("apiKey must not be empty")
    body = {"auth_mode": "apikey", "OPENAI_API_KEY": api_key}
    target = _path(home)
    tmp = home / f".{AUTH_FILE}.{os.getpid()}.tmp"
    with storing("store the login"):
        home.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def clear_login(home: Path) -> bool:
    """Remove the stored login; whether there was one."""
    with storing("remove the login"):
        try:
            _path(home).unlink()
        except FileNotFoundError:
            return False
    return True


def latest_rate_limits(provider_id: str) -> RateLimits | None:
    """The rate limits ``provider_id``'s last response reported (``x-ratelimit-*`` headers)."""
    return rate_limits.latest(provider_id)


async def recorded_tokens(manager: ThreadManager, thread_id: str | None = None) -> int:
    """Tokens the store recorded: of ``thread_id``, or summed over every thread (archived too)."""
    if thread_id is not None:
        record = await manager.store.get(thread_id)
        if record is None:
            raise ThreadNotFound(thread_id)
        return record.tokens_used
    total = 0
    for archived in (False, True):
        cursor: str | None = None
        while True:
            page = await manager.list_threads(
                ListQuery(limit=MAX_LIST_LIMIT, cursor=cursor, archived=archived)
            )
            total += sum(r.tokens_used for r in page.records)
            cursor = page.next_cursor
            if cursor is None or not page.records:
                break
    return total
