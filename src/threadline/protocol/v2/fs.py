"""Wire types of the ``fs`` area (Codex 0.169 schema), and its rows of the method table.

The area holds the host-filesystem methods (``fs/*`` and the ``fs/changed``
notification), ``fuzzyFileSearch`` with its session notifications, and
``feedback/save``. Paths are plain strings here: whether one is absolute (and
inside the roots the connection may touch) is the handler's check, so the error
can say which path was refused.
"""

from typing import Literal

from pydantic import BaseModel, Field

from threadline.protocol.v2.common import Empty, WireModel

# -- fs/* -------------------------------------------------------------------------------


class FsReadFileParams(WireModel):
    path: str


class FsReadFileResponse(WireModel):
    data_base64: str


class FsWriteFileParams(WireModel):
    path: str
    data_base64: str


class FsWriteFileResponse(Empty):
    pass


class FsCreateDirectoryParams(WireModel):
    path: str
    recursive: bool | None = None
    """Create missing parents too; ``None`` means yes."""


class FsCreateDirectoryResponse(Empty):
    pass


class FsGetMetadataParams(WireModel):
    path: str


class FsGetMetadataResponse(WireModel):
    is_directory: bool
    is_file: bool
    is_symlink: bool
    created_at_ms: int
    modified_at_ms: int


class FsReadDirectoryParams(WireModel):
    path: str


class FsReadDirectoryEntry(WireModel):
    file_name: str
    is_directory: bool
    is_file: bool


class FsReadDirectoryResponse(WireModel):
    entries: list[FsReadDirectoryEntry]


class FsRemoveParams(WireModel):
    path: str
    recursive: bool | None = None
    """Remove a directory with its contents; ``None`` means yes."""
    force: bool | None = None
    """A missing path is not an error; ``None`` means yes."""


class FsRemoveResponse(Empty):
    pass


class FsCopyParams(WireModel):
    source_path: str
    destination_path: str
    recursive: bool = False
    """Needed to copy a directory; ignored for a file."""


class FsCopyResponse(Empty):
    pass


class FsWatchParams(WireModel):
    path: str
    watch_id: str


class FsWatchResponse(WireModel):
    path: str


class FsUnwatchParams(WireModel):
    watch_id: str


class FsUnwatchResponse(Empty):
    pass


class FsChangedNotification(WireModel):
    watch_id: str
    changed_paths: list[str]


# -- fuzzyFileSearch ----------------------------------------------------------------------

FuzzyFileSearchMatchType = Literal["file", "directory"]


class FuzzyFileSearchParams(WireModel):
    query: str
    roots: list[str]
    cancellation_token: str | None = None


class FuzzyFileSearchResult(WireModel):
    """One match; Codex keeps these member names in snake_case on the wire."""

    root: str
    path: str
    match_type: FuzzyFileSearchMatchType = Field(alias="match_type")
    file_name: str = Field(alias="file_name")
    score: int
    indices: list[int] | None = None


class FuzzyFileSearchResponse(WireModel):
    files: list[FuzzyFileSearchResult]


class FuzzyFileSearchSessionUpdatedNotification(WireModel):
    session_id: str
    query: str
    files: list[FuzzyFileSearchResult]


class FuzzyFileSearchSessionCompletedNotification(WireModel):
    session_id: str


# -- feedback/save ------------------------------------------------------------------------


class FeedbackSaveParams(WireModel):
    classification: str
    save_path: str
    reason: str | None = None
    thread_id: str | None = None
    include_logs: bool = False
    extra_log_files: list[str] | None = None
    tags: dict[str, str] | None = None


class FeedbackSaveResponse(WireModel):
    saved_path: str
    thread_id: str
    prompt_hash: str | None = None


REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "fs/readFile": (FsReadFileParams, FsReadFileResponse),
    "fs/writeFile": (FsWriteFileParams, FsWriteFileResponse),
    "fs/createDirectory": (FsCreateDirectoryParams, FsCreateDirectoryResponse),
    "fs/getMetadata": (FsGetMetadataParams, FsGetMetadataResponse),
    "fs/readDirectory": (FsReadDirectoryParams, FsReadDirectoryResponse),
    "fs/remove": (FsRemoveParams, FsRemoveResponse),
    "fs/copy": (FsCopyParams, FsCopyResponse),
    "fs/watch": (FsWatchParams, FsWatchResponse),
    "fs/unwatch": (FsUnwatchParams, FsUnwatchResponse),
    "fuzzyFileSearch": (FuzzyFileSearchParams, FuzzyFileSearchResponse),
    "feedback/save": (FeedbackSaveParams, FeedbackSaveResponse),
}
"""Client requests of this area: method -> (params type, response type)."""

NOTIFICATIONS: dict[str, type[BaseModel]] = {
    "fs/changed": FsChangedNotification,
    "fuzzyFileSearch/sessionUpdated": FuzzyFileSearchSessionUpdatedNotification,
    "fuzzyFileSearch/sessionCompleted": FuzzyFileSearchSessionCompletedNotification,
}
"""Server notifications of this area: method -> params type."""

__all__ = [
    "NOTIFICATIONS",
    "REQUESTS",
    "FeedbackSaveParams",
    "FeedbackSaveResponse",
    "FsChangedNotification",
    "FsCopyParams",
    "FsCopyResponse",
    "FsCreateDirectoryParams",
    "FsCreateDirectoryResponse",
    "FsGetMetadataParams",
    "FsGetMetadataResponse",
    "FsReadDirectoryEntry",
    "FsReadDirectoryParams",
    "FsReadDirectoryResponse",
    "FsReadFileParams",
    "FsReadFileResponse",
    "FsRemoveParams",
    "FsRemoveResponse",
    "FsUnwatchParams",
    "FsUnwatchResponse",
    "FsWatchParams",
    "FsWatchResponse",
    "FuzzyFileSearchMatchType",
    "FuzzyFileSearchParams",
    "FuzzyFileSearchResponse",
    "FuzzyFileSearchResult",
    "FuzzyFileSearchSessionCompletedNotification",
    "FuzzyFileSearchSessionUpdatedNotification",
]
