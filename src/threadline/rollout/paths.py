"""Where rollout files live and how they are named.

Layout under a home directory (``$THREADLINE_HOME`` or a Codex home)::

    sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<uuid>.jsonl   live threads
    archived_sessions/rollout-YYYY-MM-DDThh-mm-ss-<uuid>.jsonl      archived (flat)

The date directories and the file-name stamp use *local* wall-clock time, as
Codex does; when parsing a name back, the stamp is read as UTC (Codex's quirk,
kept so cursors and ordering agree with Codex on the same home).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from threadline.protocol.records import record

__all__ = [
    "ARCHIVED_SESSIONS_SUBDIR",
    "SESSIONS_SUBDIR",
    "RolloutFileName",
    "archived_path_for",
    "find_rejected_rollout",
    "find_rollout_path",
    "home_of",
    "is_inside",
    "is_valid_thread_id",
    "iter_rollout_files",
    "new_thread_id",
    "parse_rollout_file_name",
    "rollout_file_name",
    "rollout_path_for",
    "unarchived_path_for",
    "uuid7_time_ms",
]

SESSIONS_SUBDIR = "sessions"
ARCHIVED_SESSIONS_SUBDIR = "archived_sessions"

_UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_NAME_RE = re.compile(
    r"^rollout-(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})-(" + _UUID_RE + r")\.jsonl$"
)
_ID_RE = re.compile(r"^" + _UUID_RE + r"$")


def new_thread_id() -> str:
    """A fresh UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, random rest."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 random bits
    rand_a = (rand >> 68) & 0xFFF  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return str(uuid.UUID(int=value))


def is_valid_thread_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def uuid7_time_ms(thread_id: str) -> int | None:
    """The Unix-millisecond time embedded in a UUIDv7, else ``None``."""
    try:
        parsed = uuid.UUID(thread_id)
    except ValueError:
        return None
    if parsed.version != 7:
        return None
    return parsed.int >> 80


def rollout_file_name(thread_id: str, when: datetime) -> str:
    local = when.astimezone() if when.tzinfo is not None else when
    return f"rollout-{local.strftime('%Y-%m-%dT%H-%M-%S')}-{thread_id}.jsonl"


def rollout_path_for(home: Path, thread_id: str, when: datetime | None = None) -> Path:
    """``home/sessions/YYYY/MM/DD/rollout-…-<id>.jsonl`` for a thread created ``when``."""
    local = (when or datetime.now(UTC)).astimezone()
    day = home / SESSIONS_SUBDIR / f"{local.year:04d}" / f"{local.month:02d}" / f"{local.day:02d}"
    return day / rollout_file_name(thread_id, local)


@record
class RolloutFileName:
    thread_id: str
    stamp: datetime  # the name's wall-clock stamp, labelled UTC

    @property
    def date_dirs(self) -> tuple[str, str, str]:
        return (f"{self.stamp.year:04d}", f"{self.stamp.month:02d}", f"{self.stamp.day:02d}")


def parse_rollout_file_name(name: str) -> RolloutFileName | None:
    match = _NAME_RE.match(name)
    if match is None:
        return None
    year, month, day, hour, minute, second, thread_id = match.groups()
    try:
        stamp = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    return RolloutFileName(thread_id=thread_id.lower(), stamp=stamp)


def archived_path_for(home: Path, file_name: str) -> Path:
    return home / ARCHIVED_SESSIONS_SUBDIR / file_name


def unarchived_path_for(home: Path, file_name: str) -> Path | None:
    """Where an archived file goes back to: the date directory of its name's stamp."""
    parsed = parse_rollout_file_name(file_name)
    if parsed is None:
        return None
    return home.joinpath(SESSIONS_SUBDIR, *parsed.date_dirs, file_name)


def is_inside(
    home: Path,
    path: Path,
    subdirs: tuple[str, ...] = (SESSIONS_SUBDIR, ARCHIVED_SESSIONS_SUBDIR),
    *,
    follow_final: bool = True,
) -> bool:
    """True when ``path`` (resolved) lies under one of ``home``'s ``subdirs``.

    With ``follow_final=False`` only the directories are resolved, so a final
    symbolic link is judged by where it sits, not by where it points.
    """
    try:
        resolved = path.resolve() if follow_final else path.parent.resolve() / path.name
    except OSError:
        return False
    home_resolved = home.resolve()
    for sub in subdirs:
        base = home_resolved / sub
        if resolved == base:
            continue
        if resolved.is_relative_to(base):
            return True
    return False


def home_of(path: Path) -> Path | None:
    """The home a rollout path belongs to (the parent of its sessions/archived dir)."""
    for parent in path.parents:
        if parent.name in (SESSIONS_SUBDIR, ARCHIVED_SESSIONS_SUBDIR):
            return parent.parent
    return None


def _regular_rollout_entries(directory: Path, *, recurse: bool) -> list[Path]:
    """``rollout-*.jsonl`` regular files in ``directory`` (and below, when ``recurse``).

    Nothing is followed or opened: symbolic links (to files or directories), FIFOs,
    sockets, device nodes and directories that carry a rollout name are left out.
    """
    found: list[Path] = []
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if recurse and entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
                        elif (
                            entry.name.startswith("rollout-")
                            and entry.name.endswith(".jsonl")
                            and entry.is_file(follow_symlinks=False)
                        ):
                            found.append(Path(entry.path))
                    except OSError:
                        continue
        except OSError:
            continue
    return found


def iter_rollout_files(home: Path, *, archived: bool | None = None) -> list[Path]:
    """Every rollout file (regular files only, links not followed) under ``sessions/``
    and/or ``archived_sessions/``."""
    found: list[Path] = []
    if archived in (None, False):
        found.extend(_regular_rollout_entries(home / SESSIONS_SUBDIR, recurse=True))
    if archived in (None, True):
        found.extend(_regular_rollout_entries(home / ARCHIVED_SESSIONS_SUBDIR, recurse=False))
    return found


def _matching_entries(directory: Path, suffix: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return [
                e for e in entries if e.name.startswith("rollout-") and e.name.endswith(suffix)
            ]
    except OSError:
        return []


def _is_regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _candidate_dirs(home: Path, thread_id: str) -> list[Path]:
    """The date directories a UUIDv7 id was likely created in (local time and UTC, ±1 day)."""
    ms = uuid7_time_ms(thread_id)
    dirs: list[Path] = []
    if ms is None:
        return dirs
    created = datetime.fromtimestamp(ms / 1000, tz=UTC)
    for delta in (0, -1, 1):
        for moment in (created.astimezone(), created):
            day = moment + timedelta(days=delta)
            directory = home / SESSIONS_SUBDIR / f"{day.year:04d}" / f"{day.month:02d}" / f"{day.day:02d}"
            if directory not in dirs:
                dirs.append(directory)
    return dirs


def find_rollout_path(home: Path, thread_id: str) -> Path | None:
    """Locate a thread's rollout by id without an index.

    UUIDv7 ids carry their creation time, so the likely date directories are
    tried first (local time, ±1 day); then ``archived_sessions/``; then a full scan.
    Only regular files count (see :func:`find_rejected_rollout` for the others).
    """
    suffix = f"-{thread_id.lower()}.jsonl"
    tried: set[Path] = set()
    for directory in _candidate_dirs(home, thread_id):
        if not directory.is_dir():
            continue
        tried.add(directory)
        for entry in _matching_entries(directory, suffix):
            # A date directory may itself be a link; the file must still lie inside home.
            if _is_regular(entry) and is_inside(home, Path(entry.path)):
                return Path(entry.path)
    for entry in _matching_entries(home / ARCHIVED_SESSIONS_SUBDIR, suffix):
        if _is_regular(entry) and is_inside(home, Path(entry.path)):
            return Path(entry.path)
    for path in iter_rollout_files(home, archived=False):
        if path.name.endswith(suffix) and path.parent not in tried:
            return path
    return None


def find_rejected_rollout(home: Path, thread_id: str) -> Path | None:
    """A non-regular entry (symbolic link, FIFO, directory, ...) named like the thread's
    rollout, to explain why :func:`find_rollout_path` found nothing. Scans every
    directory under ``sessions/`` (without following links) and ``archived_sessions/``."""
    suffix = f"-{thread_id.lower()}.jsonl"
    directories = [home / ARCHIVED_SESSIONS_SUBDIR]
    pending = [home / SESSIONS_SUBDIR]
    while pending:
        current = pending.pop()
        directories.append(current)
        try:
            with os.scandir(current) as entries:
                pending.extend(
                    Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)
                )
        except OSError:
            continue
    for directory in directories:
        for entry in _matching_entries(directory, suffix):
            if not _is_regular(entry):
                return Path(entry.path)
    return None
