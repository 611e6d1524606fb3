"""The storage vocabulary of ``ThreadManager``'s public methods, for its callers.

``server`` and ``cli`` see storage only through ``core`` (DESIGN's layers), yet
``ThreadManager.list_threads`` takes a :class:`ListQuery` and answers with a
:class:`ListPage` of :class:`ThreadRecord` rows, and a store's refusal is a
:class:`StoreError`. Those value types are declared here as part of core's face;
the store implementations stay behind it.
"""

from __future__ import annotations

from threadline.store.base import (
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    GitRecord,
    ListPage,
    ListQuery,
    ReindexReport,
    SortDirection,
    SortKey,
    StoreError,
    ThreadRecord,
)

__all__ = [
    "DEFAULT_LIST_LIMIT",
    "MAX_LIST_LIMIT",
    "GitRecord",
    "ListPage",
    "ListQuery",
    "ReindexReport",
    "SortDirection",
    "SortKey",
    "StoreError",
    "ThreadRecord",
]
