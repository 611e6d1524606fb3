"""Relay edge cases found in review (issue #16): real ``threadline app-server`` processes
on one PostgreSQL database.

* two servers follow a thread when its owner is killed: one takes it over, the other
  follows the new owner, and the clients on both can run the next turn (the loser
  used to see the lock still held, by the winner now, and kept following the dead
  owner: the turn its client started ran on the winner and it never saw an event);
* an owner killed after it took a relayed ``turn/start`` and before its answer was
  stored: the client on the follower gets an error saying so soon after the follower
  notices (it used to wait out the 15 s timeout for an answer that never comes).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.e2e.conftest import LaunchServer
from tests.e2e.conftest import launch_on_store as _launch
from tests.support.appserver import AppServerClient, RpcResponseError
from tests.support.mock_model import MockModel, text
from tests.support.postgres import pg_database_url


@pytest.fixture
def store_url() -> str:
    return pg_database_url("relay_review")


async def _completed(client: AppServerClient, turn_id: str) -> dict[str, Any]:
    note = await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["id"] == turn_id
    )
    return dict(note["params"]["turn"])


async def _turn(client: AppServerClient, tid: str, prompt: str) -> dict[str, Any]:
    started = await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": prompt}]}
    )
    return await _completed(client, started["turn"]["id"])


async def test_two_followers_race_a_takeover_and_both_clients_carry_on(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    mock_model.enqueue(text("first answer"))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    c = await _launch(launch_server, tmp_path, mock_model, "c", store_url)
    tid = str((await a.client.request("thread/start", {}))["thread"]["id"])
    assert (await _turn(a.client, tid, "one"))["status"] == "completed"
    await b.client.request("thread/resume", {"threadId": tid})
    await c.client.request("thread/resume", {"threadId": tid})
    os.kill(a.proc.pid, signal.SIGKILL)
    await a.proc.wait()
    await asyncio.sleep(3.0)  # both notice within a second; one takes it, one follows
    for n, server in enumerate((b, c)):
        mock_model.enqueue(text(f"answer {n}"))
        done = await _turn(server.client, tid, f"after the kill {n}")
        assert done["status"] == "completed", (n, done)
    for server in (b, c):
        read = await server.client.request("thread/read", {"threadId": tid, "includeTurns": True})
        assert [t["status"] for t in read["thread"]["turns"]] == ["completed"] * 3
        assert not server.violations()


_SLOW_ANSWER = """
CREATE FUNCTION tl_test_slow_answer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(20); RETURN NEW; END $$;
CREATE TRIGGER tl_test_slow_answer BEFORE UPDATE OF answer ON tl_relay_ops
FOR EACH ROW WHEN (NEW.answer IS NOT NULL AND OLD.op LIKE '%"k": "start"%')
EXECUTE FUNCTION tl_test_slow_answer();
"""


async def test_an_owner_killed_before_answering_a_relayed_start_fails_it_clearly(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    mock_model.enqueue(text("first answer"))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    tid = str((await a.client.request("thread/start", {}))["thread"]["id"])
    first = await _turn(a.client, tid, "one")
    assert first["status"] == "completed"
    await b.client.request("thread/resume", {"threadId": tid})
    # A's answer to a relayed turn/start hangs in the database until A is gone
    with psycopg.connect(store_url, autocommit=True) as conn:
        conn.execute(_SLOW_ANSWER)
    mock_model.enqueue(text("two"))
    start = asyncio.ensure_future(
        b.client.request(
            "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "two"}]}
        )
    )
    # A took it and ran it (not the first turn's turn/started, which may still be unread)
    await a.client.wait_for_notification(
        "turn/started", timeout=20, predicate=lambda p: p["turn"]["id"] != first["id"]
    )
    os.kill(a.proc.pid, signal.SIGKILL)
    await a.proc.wait()
    with pytest.raises(RpcResponseError) as failed:
        await asyncio.wait_for(start, 30)
    assert "went away after taking this request" in str(failed.value), failed.value
    assert not b.violations()
