"""Thread ids: validated as Codex does, made by the store's ``new_thread_id``."""

from __future__ import annotations

import uuid

from threadline.core.errors import InvalidRequest
from threadline.store import new_thread_id

__all__ = ["check_thread_id", "new_thread_id"]


def check_thread_id(thread_id: str) -> str:
    """Validate a thread id as Codex does (a UUID, optionally ``urn:uuid:`` prefixed)."""
    value = thread_id.strip()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRequest(f"invalid thread id: {thread_id}") from None
