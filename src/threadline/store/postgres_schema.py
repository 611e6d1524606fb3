"""The PostgreSQL store's schema: numbered migrations, applied in order on start.

``tl_schema`` keeps one row per applied migration. Starting servers race to migrate
one database, so :func:`migrate` takes a transaction-scoped advisory lock first: the
first server applies what is missing, the others wait for it and then find nothing
to do. A migration is applied in the same transaction that records it, so a crash
halfway leaves the database at the previous version. A database newer than this
code (a migration number it does not know) is refused rather than written to.

Tables:

* ``tl_threads``: the ``thread/list`` row of each thread (every column a filter or
  sort reads), plus the case-folded name and preview the search matches against.
* ``tl_histories`` / ``tl_lines``: each thread's rollout lines, the same JSON records a
  rollout file holds, numbered from 0 in the order they were appended.
* ``tl_goals``, ``tl_sections``, ``tl_section_members``, ``tl_attachments``,
  ``tl_git_edits``: the thread state of :mod:`threadline.store.thread_state`.
* trigram indexes on the folded name and preview when the ``pg_trgm`` extension can be
  created (migration 2; without it the search scans);
* ``tl_owners``: which server process holds each thread's lease (for the message a
  refused resume shows; the lease itself is an advisory lock, see ``postgres_lease``).
* ``tl_relay_events`` / ``tl_relay_ops`` (migration 3): what ``postgres_relay`` carries
  between a thread's owner and the servers whose clients watch it.
* ``tl_turn_index`` (migration 4): each paged thread's turn boundaries (``postgres_pages``).
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import AsyncConnection, Connection

from threadline.store.base import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Tolerated", "migrate", "migrate_sync"]

log = logging.getLogger(__name__)

PINNED_SECTION_ID = "01984de2-8f74-7c91-a3b2-5c5e937cf318"

_MIGRATION_LOCK = 0x746C_6D69_6772  # "tlmigr": serializes migrating servers

class Tolerated(str):
    """A migration statement whose failure is logged and passed over (run in a savepoint):
    what only speeds things up and needs something a server may lack (an extension)."""

    __slots__ = ()


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: threads, histories, state
    (
        """CREATE TABLE tl_threads (
            id TEXT COLLATE "C" PRIMARY KEY,
            rollout_path TEXT NOT NULL,
            created_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            source TEXT NOT NULL,
            source_kind TEXT NOT NULL,
            model_provider TEXT NOT NULL,
            cwd TEXT NOT NULL,
            cli_version TEXT NOT NULL DEFAULT '',
            originator TEXT NOT NULL DEFAULT '',
            name TEXT,
            preview TEXT NOT NULL DEFAULT '',
            name_folded TEXT NOT NULL DEFAULT '',
            preview_folded TEXT NOT NULL DEFAULT '',
            archived BOOLEAN NOT NULL DEFAULT FALSE,
            archived_at_ms BIGINT,
            forked_from_id TEXT,
            memory_mode TEXT,
            tokens_used BIGINT NOT NULL DEFAULT 0,
            model TEXT,
            reasoning_effort TEXT,
            git_sha TEXT,
            git_branch TEXT,
            git_origin_url TEXT
        )""",
        "CREATE INDEX tl_threads_created ON tl_threads (archived, created_at_ms, id)",
        "CREATE INDEX tl_threads_updated ON tl_threads (archived, updated_at_ms, id)",
        "CREATE INDEX tl_threads_path ON tl_threads (rollout_path)",
        """CREATE TABLE tl_histories (
            thread_id TEXT COLLATE "C" PRIMARY KEY,
            shown_path TEXT NOT NULL,
            line_count BIGINT NOT NULL DEFAULT 0,
            generation BIGINT NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX tl_histories_path ON tl_histories (shown_path)",
        """CREATE TABLE tl_lines (
            thread_id TEXT COLLATE "C" NOT NULL,
            seq BIGINT NOT NULL,
            line TEXT NOT NULL,
            PRIMARY KEY (thread_id, seq)
        )""",
        """CREATE TABLE tl_goals (
            thread_id TEXT COLLATE "C" PRIMARY KEY,
            goal_id TEXT NOT NULL,
            objective TEXT NOT NULL,
            status TEXT NOT NULL,
            token_budget BIGINT,
            tokens_used BIGINT NOT NULL DEFAULT 0,
            time_used_seconds BIGINT NOT NULL DEFAULT 0,
            created_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL
        )""",
        """CREATE TABLE tl_sections (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT NOT NULL,
            appearance TEXT
        )""",
        """CREATE TABLE tl_section_members (
            thread_id TEXT COLLATE "C" PRIMARY KEY,
            section_id TEXT COLLATE "C" NOT NULL,
            position BIGINT NOT NULL,
            entered_at_ms BIGINT NOT NULL
        )""",
        "CREATE INDEX tl_section_members_order "
        "ON tl_section_members (section_id, position, thread_id)",
        """CREATE TABLE tl_attachments (
            id TEXT COLLATE "C" PRIMARY KEY,
            thread_id TEXT COLLATE "C" NOT NULL,
            attachment_type TEXT NOT NULL,
            identity_key TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at_ms BIGINT NOT NULL,
            UNIQUE (thread_id, attachment_type, identity_key)
        )""",
        "CREATE INDEX tl_attachments_identity "
        "ON tl_attachments (attachment_type, identity_key, thread_id)",
        """CREATE TABLE tl_git_edits (
            thread_id TEXT COLLATE "C" NOT NULL,
            field TEXT NOT NULL,
            value TEXT,
            PRIMARY KEY (thread_id, field)
        )""",
        f"INSERT INTO tl_sections (id, name, appearance) VALUES ('{PINNED_SECTION_ID}', 'Pinned', NULL)",
        """CREATE TABLE tl_owners (
            thread_id TEXT COLLATE "C" PRIMARY KEY,
            owner TEXT NOT NULL,
            pid BIGINT NOT NULL,
            since_ms BIGINT NOT NULL
        )""",
    ),
    # 2: trigram indexes for the search (a rare term no longer scans every row); without
    # the pg_trgm extension the search still works, by scanning
    (
        Tolerated("CREATE EXTENSION IF NOT EXISTS pg_trgm"),
        Tolerated(
            "CREATE INDEX tl_threads_name_trgm ON tl_threads USING gin (name_folded gin_trgm_ops)"
        ),
        Tolerated(
            "CREATE INDEX tl_threads_preview_trgm ON tl_threads "
            "USING gin (preview_folded gin_trgm_ops)"
        ),
    ),
    # 3: the relay between servers (``postgres_relay``): the events a thread's owner
    # publishes for watchers on other servers, and the operations they send it
    (
        """CREATE TABLE tl_relay_events (
            thread_id TEXT COLLATE "C" NOT NULL,
            seq BIGINT NOT NULL,
            event TEXT NOT NULL,
            at_ms BIGINT NOT NULL,
            PRIMARY KEY (thread_id, seq)
        )""",
        "CREATE INDEX tl_relay_events_at ON tl_relay_events (at_ms)",
        """CREATE TABLE tl_relay_ops (
            id BIGSERIAL PRIMARY KEY,
            thread_id TEXT COLLATE "C" NOT NULL,
            op TEXT NOT NULL,
            taken BOOLEAN NOT NULL DEFAULT FALSE,
            answer TEXT,
            at_ms BIGINT NOT NULL
        )""",
        "CREATE INDEX tl_relay_ops_open ON tl_relay_ops (thread_id, id) WHERE NOT taken",
    ),
    # 4: the turn index of paged history (``postgres_pages``): where each turn's lines
    # are, per thread that was paged, for the history generation and lines it covers
    (
        """CREATE TABLE tl_turn_index (
            thread_id TEXT COLLATE "C" PRIMARY KEY,
            generation BIGINT NOT NULL,
            scanned_to BIGINT NOT NULL,
            body TEXT NOT NULL
        )""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_CREATE_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS tl_schema ("
    "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)


def _too_new(current: int) -> StoreError:
    return StoreError(
        f"the database schema is version {current}, newer than this threadline "
        f"understands ({SCHEMA_VERSION}); upgrade threadline"
    )


async def migrate(conn: AsyncConnection) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; returns how many migrations ran."""
    applied = 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute(_CREATE_SCHEMA_TABLE)
        cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM tl_schema")
        row = await cur.fetchone()
        current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise _too_new(current)
    for number in range(current + 1, SCHEMA_VERSION + 1):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur = await conn.execute("SELECT 1 FROM tl_schema WHERE version = %s", (number,))
            if await cur.fetchone() is not None:
                continue  # another server applied it while we waited
            for statement in MIGRATIONS[number - 1]:
                if isinstance(statement, Tolerated):
                    try:
                        async with conn.transaction():
                            await conn.execute(statement)
                    except psycopg.Error as exc:
                        log.warning("store: migration %d: skipped %r: %s", number, statement, exc)
                    continue
                await conn.execute(statement)
            await conn.execute("INSERT INTO tl_schema (version) VALUES (%s)", (number,))
            applied += 1
    return applied


def migrate_sync(conn: Connection) -> int:
    """:func:`migrate` on a synchronous connection (the lease connection's first use may
    come before any other query of the process)."""
    applied = 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(_CREATE_SCHEMA_TABLE)
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM tl_schema").fetchone()
        current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise _too_new(current)
    for number in range(current + 1, SCHEMA_VERSION + 1):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            if conn.execute("SELECT 1 FROM tl_schema WHERE version = %s", (number,)).fetchone():
                continue
            for statement in MIGRATIONS[number - 1]:
                if isinstance(statement, Tolerated):
                    try:
                        with conn.transaction():
                            conn.execute(statement)
                    except psycopg.Error as exc:
                        log.warning("store: migration %d: skipped %r: %s", number, statement, exc)
                    continue
                conn.execute(statement)
            conn.execute("INSERT INTO tl_schema (version) VALUES (%s)", (number,))
            applied += 1
    return applied
