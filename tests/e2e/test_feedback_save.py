"""``feedback/save`` over the real stdio app-server: a new zip at ``savePath`` with
``report.json``, ``manifest.json``, the server's logs and the thread's rollout, and
Codex 0.169's answers for a used path, a relative path and a bad thread id. The thread's
rollout is attached on PostgreSQL too (its lines, as ``threads export`` writes them).
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

from tests.e2e.conftest import StartClient
from tests.support.mock_model import MockModel, text
from tests.support.stores import StoreUnderTest, both_stores


@both_stores
async def test_saves_logs_and_the_thread(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path, store: StoreUnderTest
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "extra.log").write_text("extra line\n")
    client = await start_client(cwd=ws)
    started = await client.request("thread/start", {"cwd": str(ws)})
    thread_id = started["thread"]["id"]
    mock_model.enqueue(text("done"))
    turn = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]}
    )
    await client.wait_for_notification(
        "turn/completed", predicate=lambda p: p["turn"]["id"] == turn["turn"]["id"]
    )
    target = ws / "fb.zip"
    got = await client.request(
        "feedback/save",
        {
            "classification": "bug",
            "reason": "it broke",
            "savePath": str(target),
            "threadId": thread_id,
            "includeLogs": True,
            "extraLogFiles": [str(ws / "extra.log")],
            "tags": {"k": "v"},
        },
    )
    assert got == {"savedPath": str(target), "threadId": thread_id, "promptHash": None}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
        report = json.loads(zf.read("report.json"))
        manifest = json.loads(zf.read("manifest.json"))
        assert report["classification"] == "bug" and report["reason"] == "it broke"
        assert report["threadId"] == thread_id and report["tags"] == {"k": "v"}
        attached = [m["path"] for m in manifest]
        assert [p for p in attached if p in names] == attached
        logs = zf.read(next(p for p in attached if p.endswith("threadline-logs.log"))).decode()
        rollout = next(p for p in attached if p.endswith(".jsonl"))
        first = json.loads(zf.read(rollout).decode().splitlines()[0])
        assert first["type"] == "session_meta" and first["payload"]["id"] == thread_id
        assert zf.read(rollout).decode().splitlines() == store.raw_lines(started["thread"]["path"])
        assert any(p.endswith("extra.log") for p in attached)
    assert isinstance(logs, str)

    err = await client.request_error(
        "feedback/save", {"classification": "bug", "savePath": str(target)}
    )
    assert err == {
        "code": -32603,
        "message": "failed to save feedback: feedback save path already exists",
    }
    err = await client.request_error(
        "feedback/save", {"classification": "bug", "savePath": "x.zip"}
    )
    assert err == {"code": -32600, "message": "feedback savePath must be an absolute host path"}
    err = await client.request_error(
        "feedback/save",
        {"classification": "bug", "savePath": str(ws / "b.zip"), "threadId": "nope"},
    )
    assert err["code"] == -32600 and err["message"].startswith("invalid thread id")
    assert not (ws / "b.zip").exists()

    got = await client.request(
        "feedback/save", {"classification": "idea", "savePath": str(ws / "c.zip")}
    )
    assert got["threadId"].startswith("no-active-thread-")
    with zipfile.ZipFile(ws / "c.zip") as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "report.json"]

    # Outside the roots: neither the zip nor an extra file.
    err = await client.request_error(
        "feedback/save", {"classification": "bug", "savePath": str(tmp_path / "out.zip")}
    )
    assert err["code"] == -32600 and "outside the roots" in err["message"]
    assert not (tmp_path / "out.zip").exists()
    err = await client.request_error(
        "feedback/save",
        {"classification": "bug", "savePath": str(ws / "d.zip"), "extraLogFiles": ["/etc/shadow"]},
    )
    assert err["code"] == -32600 and not os.path.exists(ws / "d.zip")
