"""Which thread store a process uses: ``[store]`` in ``config.toml`` or ``THREADLINE_STORE_URL``.

::

    [store]
    kind = "postgres"                 # or "local" (the default)
    url = "postgresql://user@db.example/threadline"
    lease_expiry_seconds = 10         # how soon a vanished server's threads are free
    pool_size = 10

``THREADLINE_STORE_URL`` (when set and not empty) gives the URL and, without a
``kind``, selects the PostgreSQL store; it wins over ``url`` so a password need not
be written into ``config.toml`` (libpq's ``PGPASSWORD`` and ``~/.pgpass`` work too).
Without either the local store under ``$THREADLINE_HOME`` is used, unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from threadline.core.config import Config, ConfigError
from threadline.protocol.records import record
from threadline.store.base import ThreadStore

__all__ = ["STORE_URL_ENV", "StoreSettings", "open_store", "store_settings"]

STORE_URL_ENV = "THREADLINE_STORE_URL"
MAX_LEASE_EXPIRY_S = 300.0


@record
class StoreSettings:
    kind: Literal["local", "postgres"] = "local"
    url: str | None = None
    lease_expiry_s: float = 10.0
    pool_size: int = 10


def store_settings(config: Config, env: Mapping[str, str] | None = None) -> StoreSettings:
    environ = os.environ if env is None else env
    source = str(config.config_file)
    table: Any = config.extra.get("store", {})
    if not isinstance(table, Mapping):
        raise ConfigError(source, "store", "expected a table")
    kind = table.get("kind")
    env_url = environ.get(STORE_URL_ENV) or None
    url = env_url or table.get("url")
    if kind is None:
        kind = "postgres" if url else "local"
    if kind not in ("local", "postgres"):
        raise ConfigError(source, "store.kind", f'expected "local" or "postgres", got {kind!r}')
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://"))
    ):
        raise ConfigError(source, "store.url", "expected a postgresql:// URL")
    if kind == "postgres" and not url:
        raise ConfigError(
            source, "store.url", f'kind = "postgres" needs a url (or {STORE_URL_ENV})'
        )
    expiry = table.get("lease_expiry_seconds", 10.0)
    if (
        isinstance(expiry, bool) or not isinstance(expiry, int | float)
        or not 1 <= expiry <= MAX_LEASE_EXPIRY_S
    ):
        raise ConfigError(
            source, "store.lease_expiry_seconds", f"expected a number from 1 to {MAX_LEASE_EXPIRY_S:g}"
        )
    pool = table.get("pool_size", 10)
    if isinstance(pool, bool) or not isinstance(pool, int) or not 1 <= pool <= 1000:
        raise ConfigError(source, "store.pool_size", "expected an integer from 1 to 1000")
    chosen: Literal["local", "postgres"] = "postgres" if kind == "postgres" else "local"
    return StoreSettings(kind=chosen, url=url, lease_expiry_s=float(expiry), pool_size=pool)


def open_store(config: Config) -> ThreadStore:
    """The store ``config`` selects (nothing is connected until it is first used)."""
    settings = store_settings(config)
    if settings.kind == "postgres":
        from threadline.store.postgres import PostgresThreadStore

        assert settings.url is not None
        return PostgresThreadStore(
            settings.url,
            config.home,
            lease_expiry_s=settings.lease_expiry_s,
            pool_size=settings.pool_size,
        )
    from threadline.store.local import LocalThreadStore

    return LocalThreadStore(config.home)
