"""threadline.store: the storage boundary core depends on.

`ThreadStore` is the interface (create, resume, fork, load, append, metadata,
list, read, the writer lease); `LocalThreadStore` keeps rollouts under a home
directory with a SQLite index (``state.sqlite``); `MemoryThreadStore` keeps rows
in memory only. ``new_thread_id`` makes the ids every store accepts.
"""

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
