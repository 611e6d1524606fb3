"""The rows ``thread/list``'s check for outside appends walks, kept while they stay put.

``ThreadIndex.live_paths`` answers ``(id, rollout path, updated_at_ms)`` of every row not
archived; over ten thousand threads reading them costs tens of milliseconds, once a
second while lists come. What that check needs from them changes only when a row is
added, removed, moved to another rollout or archived, not when a turn updates its
``updated_at_ms``, preview or token count. :class:`LiveRows` counts the first kind with
temporary triggers (the connection's own: nothing is written into the file Codex or
another threadline reads) and ``PRAGMA data_version`` (another connection's commit), and
answers the same list while neither moved. An ``updated_at_ms`` in it may then be older
than the row's; the check uses it only for a rollout it has never seen.

Everything here runs on the index's worker thread, the one that runs its statements.
"""

from __future__ import annotations

import sqlite3

__all__ = ["LiveRows"]

Row = tuple[str, str, int]

_SELECT = "SELECT id, rollout_path, updated_at_ms FROM threads WHERE archived = 0"

_TRIGGERS = (
    "CREATE TEMP TRIGGER IF NOT EXISTS tl_row_added AFTER INSERT ON main.threads "
    "BEGIN SELECT tl_rows_changed(); END",
    "CREATE TEMP TRIGGER IF NOT EXISTS tl_row_removed AFTER DELETE ON main.threads "
    "BEGIN SELECT tl_rows_changed(); END",
    "CREATE TEMP TRIGGER IF NOT EXISTS tl_row_moved AFTER UPDATE ON main.threads "
    "WHEN OLD.id IS NOT NEW.id OR OLD.rollout_path IS NOT NEW.rollout_path "
    "OR OLD.archived IS NOT NEW.archived BEGIN SELECT tl_rows_changed(); END",
)


class LiveRows:
    """``watch(conn)`` once per connection (after its migrations); ``read(conn)`` then."""

    def __init__(self) -> None:
        self.changes = 0
        """Rows added, removed, moved or archived through the watched connection."""
        self._answer: tuple[tuple[int, int], list[Row]] | None = None

    def watch(self, conn: sqlite3.Connection) -> None:
        self._answer = None
        conn.create_function("tl_rows_changed", 0, self._changed)
        for statement in _TRIGGERS:
            conn.execute(statement)

    def _changed(self) -> None:
        self.changes += 1

    def read(self, conn: sqlite3.Connection) -> list[Row]:
        """The rows; the list of the last read (shared: never change it) while no row came,
        went or moved since, here or in another connection."""
        version = (self.changes, conn.execute("PRAGMA data_version").fetchone()[0])
        if self._answer is not None and self._answer[0] == version:
            return self._answer[1]
        rows: list[Row] = conn.execute(_SELECT).fetchall()
        self._answer = (version, rows)
        return rows
