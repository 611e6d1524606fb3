"""Where rollout offset indexes are remembered: in this process (the last few) and in a
cache file per rollout under the home's ``cache/rollout-offsets/`` (rebuildable data, so
never trusted: read only as a regular file, checked against the rollout before use,
written whole and renamed, never through a link)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
from pathlib import Path

from pydantic_core import SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

from threadline.rollout.files import open_regular
from threadline.rollout.offsets import INDEX_VERSION, OffsetIndex, is_current, scan

__all__ = ["current_header", "current_index", "forget_cached", "load_cached", "save_cached"]

_MEMORY: dict[str, OffsetIndex] = {}
_MEMORY_LIMIT = 32
_CACHE_MAX_BYTES = 256 << 20
"""A cache file larger than this is not ours (an index of a 1 GB rollout is ~1 MB)."""


def forget_cached() -> None:
    """Drop this process's remembered indexes (the cache files stay)."""
    _MEMORY.clear()


def _cache_file(cache_dir: Path, path: Path) -> Path:
    return cache_dir / (hashlib.blake2b(str(path).encode(), digest_size=16).hexdigest() + ".json")


def _read_cache_file(cache_dir: Path, path: Path) -> str | None:
    try:
        with open_regular(_cache_file(cache_dir, path)) as handle:  # no links, no FIFOs
            text = handle.read(_CACHE_MAX_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) <= _CACHE_MAX_BYTES else None


def load_cached(cache_dir: Path | None, path: Path) -> OffsetIndex | None:
    """The remembered index of ``path`` (this process's, else the cache file's)."""
    key = str(path)
    index = _MEMORY.get(key)
    if index is not None or cache_dir is None:
        return index
    text = _read_cache_file(cache_dir, path)
    index = OffsetIndex.from_json(text) if text is not None else None
    return index if index is not None and index.path == key else None


_HEADER_FIELDS = ("path", "inode", "size", "mtime_ns", "scanned_to", "compacted", "rolled_back",
                  "last_started", "unsupported", "version")
"""What :func:`current_header` reads of a cache file: what ``is_current`` compares and
what ``offsets.model_cut`` and a resume's plan look at."""


@functools.cache
def _header_validator() -> SchemaValidator:
    number = cs.int_schema(strict=True)
    maybe = cs.nullable_schema(number)
    kinds = {"path": cs.str_schema(strict=True), "inode": number, "size": number,
             "mtime_ns": number, "scanned_to": number, "compacted": maybe, "rolled_back": maybe,
             "last_started": maybe, "unsupported": cs.nullable_schema(cs.str_schema(strict=True)),
             "version": number}
    # Every other member (the spans: most of the file) is parsed but never made an object.
    return SchemaValidator(cs.typed_dict_schema(
        {name: cs.typed_dict_field(kinds[name]) for name in _HEADER_FIELDS},
        extra_behavior="ignore"))


def current_header(path: Path, cache_dir: Path | None) -> OffsetIndex:
    """The index of ``path`` for what its top-level fields tell (``offsets.model_cut``,
    ``rolled_back``): the remembered index, else a current cache file's fields without
    its turn spans (``turns`` empty, ``open`` None: a 33,000-turn index builds as many
    spans, about 30 ms, where these take a third of that), else :func:`current_index`.
    Never give its result to anything that reads the spans."""
    if str(path) not in _MEMORY and cache_dir is not None:
        text = _read_cache_file(cache_dir, path)
        if text is not None:
            try:
                fields = _header_validator().validate_json(text)
            except ValidationError:
                fields = None
            if fields is not None and fields["version"] == INDEX_VERSION and (
                    fields["path"] == str(path)):
                header = OffsetIndex(**fields)
                if is_current(header, path):
                    return header
    return current_index(path, cache_dir)


def save_cached(cache_dir: Path | None, index: OffsetIndex) -> None:
    """Remember ``index`` here and, best effort, in the cache file (written whole, then
    renamed, so a reader never sees half of one)."""
    if len(_MEMORY) >= _MEMORY_LIMIT and index.path not in _MEMORY:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[index.path] = index
    if cache_dir is None:
        return
    target = _cache_file(cache_dir, Path(index.path))
    scratch = target.with_suffix(f".{os.getpid()}.{secrets.token_hex(6)}.tmp")
    created = False
    try:
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if any(p.is_symlink() or not p.is_dir() for p in (cache_dir, cache_dir.parent)):
            return  # a planted link: write nothing through it
        # A new file of our own (never through a link or onto something already there).
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        created = True
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(index.to_json())
        os.replace(scratch, target)
    except OSError:
        # A read-only home, a full disk: the index lives in this process only.
        if created:
            with contextlib.suppress(OSError):
                scratch.unlink()


def current_index(path: Path, cache_dir: Path | None) -> OffsetIndex:
    """The index of ``path``: the cached one when current, extended when the file grew,
    rebuilt otherwise; the result is cached again when it changed."""
    cached = load_cached(cache_dir, path)
    if cached is not None and is_current(cached, path):
        _MEMORY[str(path)] = cached
        return cached
    index = scan(path, cached)
    save_cached(cache_dir, index)
    return index
