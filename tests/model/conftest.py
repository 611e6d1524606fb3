"""Fixtures for the model-client tests: a live mock model server and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.support.mock_model import MockModel

from threadline.model.chat import ChatCompletionsClient
from threadline.model.responses import ResponsesClient


@pytest.fixture
def mock_model() -> Iterator[MockModel]:
    with MockModel() as mock:
        yield mock


@pytest.fixture
async def responses_client(mock_model: MockModel) -> AsyncIterator[ResponsesClient]:
    client = ResponsesClient(
        provider_id="mock",
        base_url=mock_model.base_url,
        api_key="sk-test",
        max_retries=3,
        backoff_base_s=0.01,
        stream_idle_timeout_s=10,
    )
    yield client
    await client.aclose()


@pytest.fixture
async def chat_client(mock_model: MockModel) -> AsyncIterator[ChatCompletionsClient]:
    client = ChatCompletionsClient(
        provider_id="mock-chat",
        base_url=mock_model.base_url,
        api_key=None,
        max_retries=2,
        backoff_base_s=0.01,
        stream_idle_timeout_s=10,
    )
    yield client
    await client.aclose()
