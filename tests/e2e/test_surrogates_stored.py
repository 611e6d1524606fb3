"""What the server stores never fails on a string that is not valid Unicode.

The server's working directory here is named with a byte that is not UTF-8, so Python
holds it with a surrogate escape (``"dir-\\udcff"``). That path reaches the rollout
(``session_meta.cwd``, ``turn_context.cwd``), the SQLite index and the wire: a full
turn runs, the rollout is UTF-8 JSON with U+FFFD in place of the escape (what the
wire shows too), and the thread lists, reads and resumes in a new server process. On
the local store and on PostgreSQL (whose text columns are UTF-8 too).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.e2e.conftest import LaunchServer
from tests.e2e.test_turns import collect_turn, of, start_turn
from tests.support.mock_model import MockModel, text, usage
from tests.support.stores import StoreUnderTest, both_stores

pytestmark = both_stores


def _strict_lines(store: StoreUnderTest, path: Path) -> list[dict[str, object]]:
    """Every line as JSON decoded from strict UTF-8 (a surrogate would not encode)."""
    raw_lines = (
        [line.encode("utf-8") for line in store.raw_lines(path)]
        if store.postgres
        else path.read_bytes().splitlines()
    )
    return [json.loads(raw.decode("utf-8")) for raw in raw_lines]


async def test_turn_in_a_non_utf8_directory_is_stored_and_resumed(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    workdir = Path(os.fsdecode(bytes(tmp_path) + b"/dir-\xff"))
    workdir.mkdir()
    shown = str(tmp_path / "dir-\ufffd")
    mock_model.enqueue(text("Stored fine.", usage=usage(100, 0, 5, 0), item_id="msg_1"))
    mock_model.enqueue(text("Still here.", usage=usage(200, 0, 5, 0), item_id="msg_2"))

    server = await launch_server(cwd=workdir)
    client = server.client
    started = await client.request("thread/start", {})
    thread_id = started["thread"]["id"]
    assert started["cwd"] == shown
    turn_id = await start_turn(client, thread_id, "Where am I?")
    messages = await collect_turn(client, turn_id)
    [done] = of(messages, "turn/completed")
    assert done["turn"]["status"] == "completed", server.stderr[-4000:]
    assert not of(messages, "error")

    listed = await client.request("thread/list", {"limit": 10})
    assert [(t["id"], t["cwd"], t["preview"]) for t in listed["data"]] == [
        (thread_id, shown, "Where am I?")
    ]
    path = Path(listed["data"][0]["path"])
    await server.stop()

    records = _strict_lines(store, path)
    meta = records[0]
    assert meta["type"] == "session_meta"
    assert meta["payload"]["cwd"] == shown  # type: ignore[index]
    contexts = [r["payload"] for r in records if r["type"] == "turn_context"]
    assert contexts and all(c["cwd"] == shown for c in contexts)  # type: ignore[index]
    assert "\\udcff" not in "\n".join(store.raw_lines(path))

    # A new process: the index is rebuilt from the rollout, the thread resumes and runs.
    server = await launch_server(cwd=workdir)
    client = server.client
    listed = await client.request("thread/list", {"limit": 10})
    assert [(t["id"], t["cwd"]) for t in listed["data"]] == [(thread_id, shown)]
    resumed = await client.request("thread/resume", {"threadId": thread_id})
    assert resumed["thread"]["id"] == thread_id
    assert [len(t["items"]) for t in resumed["thread"]["turns"]] == [2]
    turn_id = await start_turn(client, thread_id, "And now?")
    messages = await collect_turn(client, turn_id)
    [done] = of(messages, "turn/completed")
    assert done["turn"]["status"] == "completed", done
    await server.stop()
    assert len([r for r in _strict_lines(store, path) if r["type"] == "turn_context"]) == 2
