"""A library caller of ``core`` may pass any ``str``, lone surrogates included (the
JSON-RPC input path refuses them, ``ThreadManager`` / ``Thread`` used directly do not).
What is stored of them (rollout lines, ``session_index.jsonl``, the SQLite index) and
what is sent to the model holds U+FFFD instead, so no write fails and no turn dies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import write_mock_config
from tests.support.mock_model import MockModel, text, usage

from threadline.core.config import load_config
from threadline.core.manager import StartOptions, ThreadManager
from threadline.protocol.ops import UserTurn
from threadline.protocol.v2.item import TextUserInput
from threadline.store.base import ListQuery
from threadline.store.records import SESSION_INDEX_FILE


@pytest.fixture
def mock_model() -> Iterator[MockModel]:
    with MockModel() as mock:
        yield mock


def _strict_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(raw.decode("utf-8")) for raw in path.read_bytes().splitlines()]


async def test_message_and_name_with_lone_surrogates_are_stored_as_replacements(
    mock_model: MockModel, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    mock_model.enqueue(text("Understood.", usage=usage(50, 0, 5, 0), item_id="msg_1"))

    manager = ThreadManager(load_config(home))
    try:
        thread = manager.start_thread(StartOptions(cwd=str(tmp_path)))
        thread.submit(UserTurn(items=[TextUserInput(text="half \ud800 a pair")]))
        turn = await thread.wait_turn()
        assert turn is not None and turn.status == "completed"
        await manager.set_thread_name(thread.id, "named \udfff oddly")
        await thread.flush_rollout()
        path = thread.rollout_path()
        assert path is not None
    finally:
        await manager.shutdown()

    [request] = mock_model.requests
    sent = json.dumps(request.body, ensure_ascii=False)
    assert "half \ufffd a pair" in sent

    records = _strict_lines(path)
    messages = [
        r["payload"]["message"]  # type: ignore[index]
        for r in records
        if r["type"] == "event_msg" and r["payload"]["type"] == "user_message"  # type: ignore[index]
    ]
    assert messages == ["half \ufffd a pair"]
    names = [
        r["payload"]["thread_name"]  # type: ignore[index]
        for r in records
        if r["type"] == "event_msg" and r["payload"]["type"] == "thread_name_updated"  # type: ignore[index]
    ]
    assert names == ["named \ufffd oddly"]
    [entry] = _strict_lines(home / SESSION_INDEX_FILE)
    assert entry["thread_name"] == "named \ufffd oddly"

    # A new manager lists (from the index), reads and resumes it.
    mock_model.enqueue(text("Again.", usage=usage(80, 0, 5, 0), item_id="msg_2"))
    manager = ThreadManager(load_config(home))
    try:
        # Query values with lone surrogates bind too, and match what was stored.
        page = await manager.list_threads(
            ListQuery(limit=10, cwds=(str(tmp_path),), search_term="half \ud800")
        )
        [record] = page.records
        assert (record.id, record.name, record.preview) == (
            thread.id, "named \ufffd oddly", "half \ufffd a pair"
        )
        resumed = await manager.resume_thread(thread.id)
        assert resumed.name == "named \ufffd oddly"
        resumed.submit(UserTurn(items=[TextUserInput(text="more \udc80")]))
        turn = await resumed.wait_turn()
        assert turn is not None and turn.status == "completed"
        await resumed.flush_rollout()
    finally:
        await manager.shutdown()
    assert "more \ufffd" in path.read_text(encoding="utf-8")
