"""Fixtures for the core tests: a live mock model and a Thread wired to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from tests.support.mock_model import MockModel

from threadline.core.settings import ThreadSettings
from threadline.core.thread import Thread
from threadline.model.responses import ResponsesClient
from threadline.tools.plan import UpdatePlanTool
from threadline.tools.registry import ToolRegistry

MakeThread = Callable[[], Awaitable[Thread]]


@pytest.fixture
def mock_model() -> Iterator[MockModel]:
    with MockModel() as mock:
        yield mock


@pytest.fixture
async def make_thread(mock_model: MockModel, tmp_path: Path) -> AsyncIterator[MakeThread]:
    """Factory for ephemeral threads (no rollout) talking to ``mock_model``."""
    client = ResponsesClient(
        provider_id="mock",
        base_url=mock_model.base_url,
        api_key=None,
        max_retries=1,
        backoff_base_s=0.01,
        stream_idle_timeout_s=10,
    )
    threads: list[Thread] = []

    async def make() -> Thread:
        settings = ThreadSettings(
            model="mock-model", model_provider="mock", cwd=str(tmp_path), ephemeral=True
        )
        thread = Thread(
            thread_id=f"thread-{len(threads)}",
            settings=settings,
            client=client,
            tools=ToolRegistry([UpdatePlanTool()]),
        )
        threads.append(thread)
        return thread

    yield make
    for thread in threads:
        await thread.shutdown_and_wait()
    await client.aclose()
