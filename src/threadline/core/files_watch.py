"""``fs/watch``: per-connection watches of one file or directory, by polling.

Codex watches a path non-recursively: a watched file reports its own changes, a
watched directory the changes of its direct children (a child created, removed or
rewritten), and a watch on a path that does not exist yet reports its creation.
Changes are batched over a short window and reported as one sorted list of paths.

Here each watch is an asyncio task that compares ``lstat`` snapshots of the path and
(for a directory) its direct children every :data:`POLL_INTERVAL_S`. The cost is
bounded: at most :data:`MAX_CHILDREN` children are looked at per poll and at most
:data:`MAX_WATCHES_PER_CONNECTION` watches run per connection. A watch ends on
``unwatch``, when the connection is gone (the ``alive`` check, or a notification that
can no longer be sent) and at :meth:`WatchRegistry.close_connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from threadline.core.errors import InvalidRequest

__all__ = [
    "MAX_WATCHES_PER_CONNECTION",
    "ConnectionFiles",
    "POLL_INTERVAL_S",
    "WatchRegistry",
    "snapshot",
]

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.2
MAX_CHILDREN = 20_000
MAX_WATCHES_PER_CONNECTION = 256

Stamp = tuple[int, int, int, int, int]
"""What a change is judged on: mode, inode, size, mtime and ctime (ns)."""

Snapshot = dict[str, Stamp]
"""Path -> stamp, for the watched path and (a directory's) direct children."""

Notify = Callable[[str, list[str]], bool]
"""``notify(watch_id, changed_paths)``: False when the connection can no longer take it."""


def _stamp(info: os.stat_result) -> Stamp:
    return (info.st_mode, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def snapshot(path: str) -> Snapshot:
    """The stamps of ``path`` and, when it is a directory, of its direct children."""
    out: Snapshot = {}
    try:
        info = os.stat(path)
    except OSError:
        return out
    out[path] = _stamp(info)
    if not os.path.isdir(path):
        return out
    try:
        with os.scandir(path) as it:
            for n, entry in enumerate(it):
                if n >= MAX_CHILDREN:
                    break
                try:
                    stamp = _stamp(entry.stat(follow_symlinks=False))
                except OSError:
                    continue
                if stat.S_ISDIR(stamp[0]):
                    # What happens inside a child directory is not this watch's business
                    # (Codex watches non-recursively): only its coming and going counts.
                    stamp = (stamp[0], stamp[1], 0, 0, 0)
                out[os.path.join(path, entry.name)] = stamp
    except OSError:
        pass
    return out


def _changes(before: Snapshot, after: Snapshot, root: str) -> list[str]:
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    # A directory's own stamp moves whenever a child comes or goes; report the child.
    if root in changed and len(changed) > 1 and root in before and root in after:
        changed.discard(root)
    return sorted(changed)


@dataclass(eq=False)
class _Watch:
    watch_id: str
    path: str
    """The path as the client gave it (what ``changedPaths`` are reported under)."""
    real: str
    """Where it resolved when the watch started (what is polled)."""
    task: asyncio.Task[None] | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


class WatchRegistry:
    """The running watches, by connection id and watch id."""

    def __init__(self, interval_s: float = POLL_INTERVAL_S) -> None:
        self._interval = interval_s
        self._watches: dict[int, dict[str, _Watch]] = {}

    def count(self, connection_id: int) -> int:
        return len(self._watches.get(connection_id, {}))

    def start(
        self,
        connection_id: int,
        watch_id: str,
        path: str,
        real: str,
        notify: Notify,
        alive: Callable[[], bool],
    ) -> None:
        """Start watching ``path``, polled at ``real`` (its resolved location, already
        checked by the caller: a link swapped later does not move the watch)."""
        mine = self._watches.setdefault(connection_id, {})
        if watch_id in mine:
            raise InvalidRequest(f"watchId already exists: {watch_id}")
        if len(mine) >= MAX_WATCHES_PER_CONNECTION:
            raise InvalidRequest(
                f"too many watches on this connection (at most {MAX_WATCHES_PER_CONNECTION})"
            )
        watch = _Watch(watch_id, path, real)
        mine[watch_id] = watch
        first = snapshot(real)
        watch.task = asyncio.get_running_loop().create_task(
            self._run(connection_id, watch, first, notify, alive),
            name=f"fs-watch-{connection_id}-{watch_id}",
        )

    async def stop(self, connection_id: int, watch_id: str) -> bool:
        """Stop one watch; once this returns, it sends nothing more. False if unknown."""
        mine = self._watches.get(connection_id, {})
        watch = mine.pop(watch_id, None)
        if not mine:
            self._watches.pop(connection_id, None)
        if watch is None:
            return False
        await self._cancel(watch)
        return True

    async def close_connection(self, connection_id: int) -> None:
        for watch in list(self._watches.pop(connection_id, {}).values()):
            await self._cancel(watch)

    async def close(self) -> None:
        for connection_id in list(self._watches):
            await self.close_connection(connection_id)

    @staticmethod
    async def _cancel(watch: _Watch) -> None:
        watch.stopped.set()
        task = watch.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _forget(self, connection_id: int, watch: _Watch) -> None:
        mine = self._watches.get(connection_id)
        if mine is not None and mine.get(watch.watch_id) is watch:
            del mine[watch.watch_id]
            if not mine:
                del self._watches[connection_id]

    async def _run(
        self,
        connection_id: int,
        watch: _Watch,
        before: Snapshot,
        notify: Notify,
        alive: Callable[[], bool],
    ) -> None:
        try:
            while not watch.stopped.is_set():
                await asyncio.sleep(self._interval)
                if not alive():
                    break
                after = await asyncio.to_thread(snapshot, watch.real)
                if watch.stopped.is_set():
                    break
                changed = [
                    watch.path + p[len(watch.real) :] for p in _changes(before, after, watch.real)
                ]
                before = after
                if changed and not notify(watch.watch_id, changed):
                    break
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("fs/watch %s on %s failed", watch.watch_id, watch.path)
        finally:
            self._forget(connection_id, watch)


class ConnectionFiles:
    """What the ``fs`` area keeps per connection: its watches and the cancellation
    flags of its running ``fuzzyFileSearch`` calls (by ``cancellationToken``)."""

    def __init__(self, interval_s: float = POLL_INTERVAL_S) -> None:
        self.watches = WatchRegistry(interval_s)
        self.searches: dict[tuple[int, str], threading.Event] = {}

    def begin_search(self, connection_id: int, token: str | None) -> threading.Event:
        """A cancellation flag for a new search; a running search with the same token
        on the same connection is cancelled (Codex's ``cancellationToken``)."""
        flag = threading.Event()
        if token is not None:
            previous = self.searches.get((connection_id, token))
            if previous is not None:
                previous.set()
            self.searches[(connection_id, token)] = flag
        return flag

    def end_search(self, connection_id: int, token: str | None, flag: threading.Event) -> None:
        if token is not None and self.searches.get((connection_id, token)) is flag:
            del self.searches[(connection_id, token)]
