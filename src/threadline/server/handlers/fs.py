"""Handlers of the ``fs`` area: ``fs/*``, ``fuzzyFileSearch`` and ``feedback/save``.

Every path these methods touch must lie inside the roots of the requesting
connection (:func:`connection_roots`), checked on the resolved path by
:mod:`threadline.core.files_access`. Codex itself lets these methods reach the whole
host; threadline keeps the same requests, answers and error wording but refuses
(``-32600``, naming the path and the roots) anything outside, so that a client, or a
model steering one, cannot read ``~/.ssh`` or write ``/etc`` through them.

The roots of a connection are:

- the directory the server was started in (the project an editor launches it for);
- the working directory of every loaded thread this connection is subscribed to
  (the threads it started, resumed or forked);
- the ``[sandbox_workspace_write] writable_roots`` of the configuration;

never ``/`` itself, and only directories that exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from threadline.core import feedback, files_access, fuzzy_search
from threadline.core.errors import InvalidRequest
from threadline.core.files_access import FileOpError, FileRoots
from threadline.core.ids import check_thread_id
from threadline.protocol import codes
from threadline.protocol.v2.fs import (
    FeedbackSaveParams,
    FeedbackSaveResponse,
    FsChangedNotification,
    FsCopyParams,
    FsCopyResponse,
    FsCreateDirectoryParams,
    FsCreateDirectoryResponse,
    FsGetMetadataParams,
    FsGetMetadataResponse,
    FsReadDirectoryEntry,
    FsReadDirectoryParams,
    FsReadDirectoryResponse,
    FsReadFileParams,
    FsReadFileResponse,
    FsRemoveParams,
    FsRemoveResponse,
    FsUnwatchParams,
    FsUnwatchResponse,
    FsWatchParams,
    FsWatchResponse,
    FsWriteFileParams,
    FsWriteFileResponse,
    FuzzyFileSearchParams,
    FuzzyFileSearchResponse,
    FuzzyFileSearchResult,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime

__all__ = ["HANDLERS", "connection_roots"]

_LOG_RING = feedback.install_log_ring()


def connection_roots(rt: Runtime, ctx: RequestContext) -> FileRoots:
    """The directories ``ctx``'s connection may touch through these methods."""
    candidates: list[str] = [os.getcwd()]
    for thread_id in rt.manager.list_loaded():
        if any(c.id == ctx.connection_id for c in rt.router.subscribers(thread_id)):
            thread = rt.manager.find(thread_id)
            if thread is not None and thread.settings.cwd:
                candidates.append(thread.settings.cwd)
    candidates.extend(rt.manager.config.sandbox_workspace_write.writable_roots)
    return FileRoots.of(candidates)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except FileOpError as exc:
        raise RpcError(codes.INTERNAL_ERROR, exc.message) from exc
    except feedback.FeedbackSaveError as exc:
        raise RpcError(codes.INTERNAL_ERROR, exc.message) from exc


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with _translated():
        return await asyncio.to_thread(fn, *args, **kwargs)


def _connection_open(ctx: RequestContext) -> bool:
    """Whether ``ctx``'s connection is still open (a watch stops when it is not)."""
    connection = getattr(ctx, "connection", None)
    return not bool(getattr(connection, "closed", False))


# -- fs/* --------------------------------------------------------------------------------


async def fs_read_file(rt: Runtime, ctx: RequestContext, p: FsReadFileParams) -> FsReadFileResponse:
    path = files_access.absolute_path(p.path)
    data = await _run(files_access.read_file, connection_roots(rt, ctx), path)
    return FsReadFileResponse(data_base64=base64.b64encode(data).decode("ascii"))


async def fs_write_file(
    rt: Runtime, ctx: RequestContext, p: FsWriteFileParams
) -> FsWriteFileResponse:
    path = files_access.absolute_path(p.path)
    try:
        data = base64.b64decode(p.data_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"fs/writeFile requires valid base64 dataBase64: {exc}") from exc
    await _run(files_access.write_file, connection_roots(rt, ctx), path, data)
    return FsWriteFileResponse()


async def fs_create_directory(
    rt: Runtime, ctx: RequestContext, p: FsCreateDirectoryParams
) -> FsCreateDirectoryResponse:
    path = files_access.absolute_path(p.path)
    recursive = p.recursive is not False
    await _run(files_access.create_directory, connection_roots(rt, ctx), path, recursive=recursive)
    return FsCreateDirectoryResponse()


async def fs_get_metadata(
    rt: Runtime, ctx: RequestContext, p: FsGetMetadataParams
) -> FsGetMetadataResponse:
    path = files_access.absolute_path(p.path)
    meta = await _run(files_access.get_metadata, connection_roots(rt, ctx), path)
    return FsGetMetadataResponse(
        is_directory=meta.is_directory,
        is_file=meta.is_file,
        is_symlink=meta.is_symlink,
        created_at_ms=meta.created_at_ms,
        modified_at_ms=meta.modified_at_ms,
    )


async def fs_read_directory(
    rt: Runtime, ctx: RequestContext, p: FsReadDirectoryParams
) -> FsReadDirectoryResponse:
    path = files_access.absolute_path(p.path)
    entries = await _run(files_access.read_directory, connection_roots(rt, ctx), path)
    return FsReadDirectoryResponse(
        entries=[
            FsReadDirectoryEntry(
                file_name=e.file_name, is_directory=e.is_directory, is_file=e.is_file
            )
            for e in entries
        ]
    )


async def fs_remove(rt: Runtime, ctx: RequestContext, p: FsRemoveParams) -> FsRemoveResponse:
    path = files_access.absolute_path(p.path)
    await _run(
        files_access.remove,
        connection_roots(rt, ctx),
        path,
        recursive=p.recursive is not False,
        force=p.force is not False,
    )
    return FsRemoveResponse()


async def fs_copy(rt: Runtime, ctx: RequestContext, p: FsCopyParams) -> FsCopyResponse:
    source = files_access.absolute_path(p.source_path, field="sourcePath")
    destination = files_access.absolute_path(p.destination_path, field="destinationPath")
    await _run(
        files_access.copy, connection_roots(rt, ctx), source, destination, recursive=p.recursive
    )
    return FsCopyResponse()


async def fs_watch(rt: Runtime, ctx: RequestContext, p: FsWatchParams) -> FsWatchResponse:
    path = files_access.absolute_path(p.path)
    real = connection_roots(rt, ctx).resolve(path)

    def notify(watch_id: str, changed: list[str]) -> bool:
        if not _connection_open(ctx):
            return False
        ctx.send_notification(
            "fs/changed", FsChangedNotification(watch_id=watch_id, changed_paths=changed)
        )
        return True

    rt.files.watches.start(
        ctx.connection_id, p.watch_id, path, real, notify, lambda: _connection_open(ctx)
    )
    return FsWatchResponse(path=path)


async def fs_unwatch(rt: Runtime, ctx: RequestContext, p: FsUnwatchParams) -> FsUnwatchResponse:
    await rt.files.watches.stop(ctx.connection_id, p.watch_id)
    return FsUnwatchResponse()


# -- fuzzyFileSearch ------------------------------------------------------------------------


async def fuzzy_file_search(
    rt: Runtime, ctx: RequestContext, p: FuzzyFileSearchParams
) -> FuzzyFileSearchResponse:
    roots = connection_roots(rt, ctx)
    search_roots: list[tuple[str, str]] = []
    for raw in p.roots:
        # Like Codex, a root that is relative or missing finds nothing; one outside
        # the connection's roots is refused.
        if not os.path.isabs(raw):
            continue
        real = os.path.realpath(raw)
        if not os.path.isdir(real):
            continue
        roots.check(raw, real)
        search_roots.append((raw, real))
    if not search_roots or not p.query.strip():
        return FuzzyFileSearchResponse(files=[])
    flag = rt.files.begin_search(ctx.connection_id, p.cancellation_token)
    try:
        shown = {real: given for given, real in search_roots}
        matches = await asyncio.to_thread(
            fuzzy_search.search, p.query, [real for _, real in search_roots], cancelled=flag
        )
    finally:
        rt.files.end_search(ctx.connection_id, p.cancellation_token, flag)
    if flag.is_set():
        return FuzzyFileSearchResponse(files=[])
    return FuzzyFileSearchResponse(
        files=[
            FuzzyFileSearchResult(
                root=shown.get(m.root, m.root),
                path=m.path,
                match_type="directory" if m.is_dir else "file",
                file_name=m.file_name,
                score=m.score,
                indices=m.indices,
            )
            for m in matches
        ]
    )


# -- feedback/save ----------------------------------------------------------------------------


async def feedback_save(
    rt: Runtime, ctx: RequestContext, p: FeedbackSaveParams
) -> FeedbackSaveResponse:
    if not os.path.isabs(p.save_path):
        raise InvalidRequest("feedback savePath must be an absolute host path")
    save_path = os.path.normpath(p.save_path)
    roots = connection_roots(rt, ctx)
    extra = [files_access.absolute_path(f, field="extraLogFiles") for f in p.extra_log_files or []]
    rollout = None
    stored = None
    if p.thread_id is not None:
        thread_id = check_thread_id(p.thread_id)
        loaded = rt.manager.find(thread_id)
        if loaded is not None:
            rollout = loaded.rollout_path()
        else:
            rollout = await rt.manager.store.find_rollout(thread_id)
        if rollout is not None and not os.path.exists(rollout):
            # No file behind the path (the PostgreSQL store): the store's lines instead.
            stored = await feedback.stored_rollout(rt.manager.store, thread_id)
            rollout = None if stored is not None else rollout
    else:
        thread_id = feedback.no_thread_id()
    report = feedback.FeedbackReport(
        classification=p.classification,
        reason=p.reason,
        thread_id=thread_id,
        tags=dict(p.tags or {}),
        rollout=rollout,
        stored=stored,
        logs=_LOG_RING.text() if p.include_logs else None,
        extra_files=extra,
    )
    from threadline import __version__

    saved = await _run(feedback.save_feedback, roots, save_path, report, __version__)
    return FeedbackSaveResponse(saved_path=saved, thread_id=thread_id, prompt_hash=None)


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "fs/readFile": fs_read_file,
    "fs/writeFile": fs_write_file,
    "fs/createDirectory": fs_create_directory,
    "fs/getMetadata": fs_get_metadata,
    "fs/readDirectory": fs_read_directory,
    "fs/remove": fs_remove,
    "fs/copy": fs_copy,
    "fs/watch": fs_watch,
    "fs/unwatch": fs_unwatch,
    "fuzzyFileSearch": fuzzy_file_search,
    "feedback/save": feedback_save,
}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""
