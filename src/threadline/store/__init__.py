"""threadline.store: the storage boundary core depends on.

`ThreadStore` is the interface (create, resume, fork, load, append, metadata,
list, read, the writer lease); `LocalThreadStore` keeps rollouts under a home
directory with a SQLite index (``state.sqlite``); `MemoryThreadStore` keeps rows
in memory only. ``new_thread_id`` makes the ids every store accepts.

The names below load with their module on first use: importing any module of the
package runs this file first, and a start that needs only ``store.base``'s vocabulary
(``StoreError``, the list query) should not load every store with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from threadline.rollout.paths import new_thread_id
    from threadline.store.base import (
        DEFAULT_LIST_LIMIT,
        MAX_LIST_LIMIT,
        PREVIEW_MAX_CHARS,
        ForkSource,
        GitRecord,
        InvalidCursor,
        ListPage,
        ListQuery,
        NullSink,
        ReindexReport,
        SortDirection,
        SortKey,
        StoredRef,
        StoredThread,
        StoreError,
        StoreThreadNotFound,
        ThreadInUse,
        ThreadLease,
        ThreadRecord,
        ThreadSink,
        ThreadStore,
    )
    from threadline.store.index import ThreadIndex
    from threadline.store.local import LocalThreadStore
    from threadline.store.memory import MemoryThreadStore
    from threadline.store.records import (
        SESSION_INDEX_FILE,
        read_session_names,
        record_from_rollout,
        source_kind_of,
    )

_HOMES = {
    "threadline.rollout.paths": ("new_thread_id",),
    "threadline.store.base": (
        "DEFAULT_LIST_LIMIT", "MAX_LIST_LIMIT", "PREVIEW_MAX_CHARS", "ForkSource", "GitRecord",
        "InvalidCursor", "ListPage", "ListQuery", "NullSink", "ReindexReport", "SortDirection",
        "SortKey", "StoredRef", "StoredThread", "StoreError", "StoreThreadNotFound",
        "ThreadInUse", "ThreadLease", "ThreadRecord", "ThreadSink", "ThreadStore",
    ),
    "threadline.store.index": ("ThreadIndex",),
    "threadline.store.local": ("LocalThreadStore",),
    "threadline.store.memory": ("MemoryThreadStore",),
    "threadline.store.records": (
        "SESSION_INDEX_FILE", "read_session_names", "record_from_rollout", "source_kind_of",
    ),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_LIST_LIMIT",
    "MAX_LIST_LIMIT",
    "PREVIEW_MAX_CHARS",
    "SESSION_INDEX_FILE",
    "ForkSource",
    "GitRecord",
    "InvalidCursor",
    "ListPage",
    "ListQuery",
    "LocalThreadStore",
    "MemoryThreadStore",
    "NullSink",
    "ReindexReport",
    "SortDirection",
    "SortKey",
    "StoreError",
    "StoreThreadNotFound",
    "StoredRef",
    "StoredThread",
    "ThreadInUse",
    "ThreadIndex",
    "ThreadLease",
    "ThreadRecord",
    "ThreadSink",
    "ThreadStore",
    "read_session_names",
    "record_from_rollout",
    "new_thread_id",
    "source_kind_of",
]
