"""``skills/changed`` for skill files changing on disk: one polling watcher per home.

Codex signals ``skills/changed`` when a ``SKILL.md`` under the skill roots of a loaded
thread appears, disappears or is rewritten. Here every loaded thread registers its cwd;
one asyncio task per home fingerprints the ``SKILL.md`` files of all those cwds' roots
(path, size, mtime) every :data:`POLL_INTERVAL_S` and, when the fingerprint moves,
calls one live thread's notifier (the notification goes to every connection, so one is
enough). Threads are held weakly: a thread that is gone stops counting; the task ends
when none is left. The scans use the discovery's depth and directory limits; the polls
run off the event loop, the baseline taken when a thread registers runs on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

from threadline.core.skills import (
    MAX_DIRS_PER_ROOT,
    MAX_SCAN_DEPTH,
    SKILL_FILE,
    SkillRoot,
    SkillsRegistry,
)

POLL_INTERVAL_S = 1.0
log = logging.getLogger(__name__)

Fingerprint = frozenset[tuple[str, int, int]]


def _files(root: SkillRoot) -> Iterable[tuple[str, int, int]]:
    base = root.path
    if not base.is_dir():
        return
    follow = root.scope != "system"
    stack: list[tuple[Path, int]] = [(base, 0)]
    seen = 0
    while stack:
        d, depth = stack.pop()
        seen += 1
        if seen > MAX_DIRS_PER_ROOT:
            return
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                if e.is_dir(follow_symlinks=follow):
                    if depth + 1 <= MAX_SCAN_DEPTH:
                        stack.append((Path(e.path), depth + 1))
                elif e.name == SKILL_FILE and e.is_file(follow_symlinks=follow):
                    st = e.stat(follow_symlinks=follow)
                    yield (e.path, st.st_size, st.st_mtime_ns)
            except OSError:
                continue


def fingerprint(roots: Iterable[SkillRoot]) -> Fingerprint:
    """What a change is judged on: every ``SKILL.md`` under ``roots`` with its size
    and mtime."""
    out: set[tuple[str, int, int]] = set()
    for r in roots:
        out.update(_files(r))
    return frozenset(out)


class SkillsWatcher:
    """The watcher of one home (see the module)."""

    def __init__(self, registry: SkillsRegistry) -> None:
        self._registry = registry
        self._owners: weakref.WeakKeyDictionary[object, tuple[Path, Callable[[], None]]] = (
            weakref.WeakKeyDictionary()
        )
        self._task: asyncio.Task[None] | None = None
        self._last: Fingerprint | None = None

    def watch(self, owner: object, cwd: Path, notify: Callable[[], None]) -> None:
        """Watch ``cwd``'s skill roots while ``owner`` (a thread's session) lives."""
        self._owners[owner] = (cwd, notify)
        self._last = fingerprint(self._roots())  # the baseline, with this cwd's roots
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): nothing to poll with
                return
            self._task = loop.create_task(self._run())

    def rebaseline(self) -> None:
        """Take the current state as the baseline (after a change the caller already
        signalled, such as new extra roots)."""
        if self._owners:
            self._last = fingerprint(self._roots())

    def _roots(self) -> list[SkillRoot]:
        out: list[SkillRoot] = []
        seen: set[Path] = set()
        for cwd, _notify in list(self._owners.values()):
            for r in self._registry.roots(cwd):
                if r.path not in seen:
                    seen.add(r.path)
                    out.append(r)
        return out

    async def _run(self) -> None:
        while self._owners:
            await asyncio.sleep(POLL_INTERVAL_S)
            try:
                current = await asyncio.to_thread(fingerprint, self._roots())
            except Exception:  # pragma: no cover - a scan never raises; keep watching
                log.exception("skills watch: scan failed")
                continue
            last, self._last = self._last, current
            if last is None or last == current:
                continue
            for _cwd, notify in list(self._owners.values())[:1]:
                with contextlib.suppress(Exception):
                    notify()


_WATCHERS: weakref.WeakKeyDictionary[SkillsRegistry, SkillsWatcher] = weakref.WeakKeyDictionary()


def watcher_for(registry: SkillsRegistry) -> SkillsWatcher:
    """The one :class:`SkillsWatcher` of ``registry``'s home."""
    w = _WATCHERS.get(registry)
    if w is None:
        w = _WATCHERS[registry] = SkillsWatcher(registry)
    return w


__all__ = ["POLL_INTERVAL_S", "SkillsWatcher", "fingerprint", "watcher_for"]
