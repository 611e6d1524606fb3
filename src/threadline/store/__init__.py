"""threadline.store: the storage boundary core depends on.

`ThreadStore` is the interface; `LocalThreadStore` keeps rollouts under a home
directory with a SQLite index (``state.sqlite``); `MemoryThreadStore` keeps rows
in memory only.
"""

from threadline.store.base import (
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    PREVIEW_MAX_CHARS,
    GitRecord,
    InvalidCursor,
    ListPage,
    ListQuery,
    ReindexReport,
    SortDirection,
    SortKey,
    StoreError,
    StoreThreadNotFound,
    ThreadInUse,
    ThreadLease,
    ThreadRecord,
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

__all__ = [
    "DEFAULT_LIST_LIMIT",
    "MAX_LIST_LIMIT",
    "PREVIEW_MAX_CHARS",
    "SESSION_INDEX_FILE",
    "GitRecord",
    "InvalidCursor",
    "ListPage",
    "ListQuery",
    "LocalThreadStore",
    "MemoryThreadStore",
    "ReindexReport",
    "SortDirection",
    "SortKey",
    "StoreError",
    "StoreThreadNotFound",
    "ThreadInUse",
    "ThreadIndex",
    "ThreadLease",
    "ThreadRecord",
    "ThreadStore",
    "read_session_names",
    "record_from_rollout",
    "source_kind_of",
]
