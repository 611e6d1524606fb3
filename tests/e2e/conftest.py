"""End-to-end fixtures: a live mock model, a THREADLINE_HOME pointing at it, and the
real ``python -m threadline app-server`` subprocess on stdio.

Fixtures:

* ``mock_model`` — a started :class:`MockModel` (HTTP on 127.0.0.1); enqueue scripts on it.
* ``mock_home`` — ``tmp_path/"home"`` with a ``config.toml`` selecting the ``mock`` provider
  (Responses API at ``mock_model.base_url``, no API key, fast retries).
* ``launch_server`` — ``await launch_server(**kw)`` → a started
  :class:`~tests.support.appserver.AppServerProcess` using ``mock_home`` (override with
  ``home=``); any keyword of the ``app_server`` fixture passes through. Keep the process to
  kill or restart it (persistence tests).
* ``start_client`` — ``await start_client(**kw)`` → an initialized
  :class:`~tests.support.appserver.AppServerClient` on a fresh stdio server.
* ``store`` — the thread store the servers of ``launch_server`` use: local unless the
  test is parametrized with :data:`tests.support.stores.both_stores` (then once with
  the local store, once with a fresh PostgreSQL database); see
  :mod:`tests.support.stores` for reading and seeding rollouts through it.

Every server→client message is validated against the reference schema (the
``app_server`` fixture fails the test at teardown on any violation).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.conftest import AppServerFactory
from tests.support.appserver import AppServerClient, AppServerProcess
from tests.support.mock_model import MockModel
from tests.support.stores import StoreUnderTest, store_for

LaunchServer = Callable[..., Awaitable[AppServerProcess]]
StartClient = Callable[..., Awaitable[AppServerClient]]

MOCK_MODEL_NAME = "mock-model"


def write_mock_config(
    home: Path,
    base_url: str,
    *,
    request_max_retries: int = 2,
    extra: str = "",
    provider_extra: str = "",
) -> Path:
    """Write ``home/config.toml`` selecting the keyless ``mock`` Responses provider.

    ``extra`` is appended at top level (before the provider table), ``provider_extra``
    inside ``[model_providers.mock]``.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(
        f'model_provider = "mock"\n'
        f'model = "{MOCK_MODEL_NAME}"\n'
        f'approval_policy = "never"\n'
        f'sandbox_mode = "workspace-write"\n'
        f"{extra}\n"
        f"[model_providers.mock]\n"
        f'name = "Mock Responses"\n'
        f'base_url = "{base_url}"\n'
        f'wire_api = "responses"\n'
        f"request_max_retries = {request_max_retries}\n"
        f"stream_idle_timeout_ms = 20000\n"
        f"{provider_extra}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def mock_model() -> Iterator[MockModel]:
    with MockModel() as mock:
        yield mock


@pytest.fixture
def mock_home(tmp_path: Path, mock_model: MockModel) -> Path:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    return home


@pytest.fixture
def store(request: pytest.FixtureRequest) -> StoreUnderTest:
    return store_for(request)


@pytest_asyncio.fixture
async def launch_server(
    app_server: AppServerFactory, mock_home: Path, store: StoreUnderTest
) -> AsyncIterator[LaunchServer]:
    homes: list[Path] = []

    async def launch(**kwargs: Any) -> AppServerProcess:
        kwargs.setdefault("home", mock_home)
        kwargs.setdefault("cwd", mock_home.parent)
        kwargs["env"] = {**store.env, **(kwargs.get("env") or {})}
        homes.append(Path(kwargs["home"]))
        return await app_server(**kwargs)

    yield launch
    store.check_no_rollout_files(homes)


@pytest_asyncio.fixture
async def start_client(launch_server: LaunchServer) -> StartClient:
    async def start(**kwargs: Any) -> AppServerClient:
        server = await launch_server(**kwargs)
        return server.client

    return start


async def launch_on_store(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, name: str, url: str
) -> AppServerProcess:
    """A server with its own home (``tmp_path / name``) on the mock model and the store at ``url``."""
    home = tmp_path / name
    write_mock_config(home, mock_model.base_url)
    return await launch_server(home=home, env={"THREADLINE_STORE_URL": url})
