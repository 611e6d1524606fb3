"""What ``threadline app-server`` does when its client goes away mid-turn (on the local
store and on PostgreSQL: the interrupted turn is stored before the process exits)."""

from __future__ import annotations

import json

from tests.e2e.conftest import LaunchServer
from tests.e2e.test_turns import start_thread, start_turn
from tests.support.mock_model import MockModel, text
from tests.support.stores import StoreUnderTest, both_stores

pytestmark = both_stores


async def test_stdin_eof_mid_turn_ends_the_turn_and_closes_everything(
    launch_server: LaunchServer, mock_model: MockModel, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    mock_model.enqueue(text(" ".join(f"n{i}" for i in range(200)), delay_s=0.05))
    thread_id = await start_thread(client)
    await start_turn(client, thread_id, "Count slowly")
    await client.wait_for_notification("item/agentMessage/delta")

    await server.close_stdin()
    assert await server.wait(timeout=15) == 0

    # The manager was shut down: the running turn was interrupted and recorded as such,
    # and the rollout was flushed before the process exited.
    rollouts = [
        lines for name, lines in store.histories(server.home).items()
        if name.startswith("rollout-") and name.endswith(f"{thread_id}.jsonl")
    ]
    assert len(rollouts) == 1
    lines = [json.loads(line) for line in rollouts[0]]
    events = [ln["payload"]["type"] for ln in lines if ln["type"] == "event_msg"]
    assert "user_message" in events
    assert events[-1] == "turn_aborted"
    # Model connections were closed, not left for the garbage collector to complain about.
    assert "Unclosed" not in server.stderr
