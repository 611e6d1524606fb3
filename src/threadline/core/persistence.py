"""Deprecated: the store names ``server`` imports from here live in :mod:`threadline.core.storage`.

Kept only until ``server/handlers/thread_meta.py`` imports them from there; nothing
else in ``core`` uses this module.
"""

from __future__ import annotations

from threadline.core.storage import MAX_LIST_LIMIT, ListPage, ListQuery, ThreadRecord

__all__ = ["MAX_LIST_LIMIT", "ListPage", "ListQuery", "ThreadRecord"]
