"""``feedback/save``: a local zip with a feedback report, the server's logs and a thread.

Codex writes ``report.json`` (what the user said and about which thread),
``manifest.json`` (what else is inside) and ``attachments/NNNN/<name>`` files to a
ZIP at a path the caller names, which must not exist yet. Threadline does the same:
the attachments are the server's recent log records (kept in memory by
:class:`LogRing` since the server started, when ``includeLogs``), the thread's
rollout file (when the thread is known; for a store that keeps no files, the
PostgreSQL one, the file ``threadline threads export`` would write), and the caller's
``extraLogFiles``. Nothing is uploaded anywhere.
"""

from __future__ import annotations

import collections
import io
import json
import logging
import os
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from threadline.core.errors import CoreError, InvalidRequest
from threadline.core.files_access import FileRoots
from threadline.store.base import StoreError, ThreadStore

__all__ = [
    "FeedbackReport",
    "FeedbackSaveError",
    "LogRing",
    "install_log_ring",
    "no_thread_id",
    "save_feedback",
    "stored_rollout",
]

LOG_RING_RECORDS = 5000
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024


class LogRing(logging.Handler):
    """The last :data:`LOG_RING_RECORDS` formatted log records of the process."""

    def __init__(self, capacity: int = LOG_RING_RECORDS) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: collections.deque[str] = collections.deque(maxlen=capacity)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(self.format(record))
        except Exception:  # pragma: no cover - a bad record must not break logging
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.records) + ("\n" if self.records else "")


_RING: LogRing | None = None


def install_log_ring() -> LogRing:
    """The process's :class:`LogRing`, attached to the ``threadline`` logger once."""
    global _RING
    if _RING is None:
        _RING = LogRing()
        logging.getLogger("threadline").addHandler(_RING)
    return _RING


class FeedbackSaveError(CoreError):
    """Writing the zip failed (the server answers ``-32603``)."""


@dataclass(slots=True)
class FeedbackReport:
    classification: str
    reason: str | None
    thread_id: str
    tags: dict[str, str] = field(default_factory=dict)
    rollout: Path | None = None
    stored: tuple[str, bytes] | None = None
    """The rollout as ``(file name, bytes)`` when there is no file to read."""
    logs: str | None = None
    extra_files: list[str] = field(default_factory=list)


def _read_capped(path: str) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        data = data[:MAX_ATTACHMENT_BYTES]
    return data


async def stored_rollout(store: ThreadStore, thread_id: str) -> tuple[str, bytes] | None:
    """The thread as the rollout file ``threads export`` writes (a store that keeps no
    files); None while it has no history yet."""
    from threadline.store.transfer import export_thread  # only feedback on such a store needs it

    try:
        exported = await export_thread(store, thread_id)
    except StoreError:
        return None
    return exported.file_name, exported.text.encode("utf-8")[:MAX_ATTACHMENT_BYTES]


def no_thread_id() -> str:
    return f"no-active-thread-{uuid.uuid4()}"


def save_feedback(roots: FileRoots, save_path: str, report: FeedbackReport, version: str) -> str:
    """Write ``report`` as a zip at ``save_path`` (absolute, new, inside ``roots``)."""
    attachments: list[tuple[str, bytes]] = []
    if report.logs is not None:
        attachments.append(("threadline-logs.log", report.logs.encode("utf-8")))
    if report.rollout is not None:
        # A thread without a first turn has no rollout file yet: nothing to attach.
        try:
            attachments.append((report.rollout.name, _read_capped(str(report.rollout))))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise FeedbackSaveError(f"failed to save feedback: cannot read rollout: {exc}") from exc
    elif report.stored is not None:
        attachments.append(report.stored)
    for extra in report.extra_files:
        fd = roots.open_target(extra, os.O_RDONLY | os.O_NONBLOCK)
        try:
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(MAX_ATTACHMENT_BYTES)
        finally:
            os.close(fd)
        attachments.append((os.path.basename(extra) or "extra.log", data))
    body = {
        "classification": report.classification,
        "reason": report.reason,
        "threadId": report.thread_id,
        "tags": report.tags,
        "cliVersion": version,
        "createdAtMs": int(time.time() * 1000),
        "originator": "threadline",
    }
    manifest = [
        {"path": f"attachments/{n:04d}/{name}", "bytes": len(data)}
        for n, (name, data) in enumerate(attachments)
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.json", json.dumps(body, indent=2))
        for entry, (_, data) in zip(manifest, attachments, strict=True):
            zf.writestr(str(entry["path"]), data)
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    try:
        with roots.parent(save_path) as (dfd, name):
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dfd,
            )
            with os.fdopen(fd, "wb") as out:
                out.write(buffer.getvalue())
    except FileExistsError as exc:
        raise FeedbackSaveError(
            "failed to save feedback: feedback save path already exists"
        ) from exc
    except OSError as exc:
        raise FeedbackSaveError(f"failed to save feedback: {exc}") from exc
    except InvalidRequest:
        raise
    return save_path
