"""After a process's first resume the event loop imports the resumed thread's turn code in
idle steps (``core.setup.RESUMED_TURN_MODULES``, ``core.warm_up.import_in_idle_steps``):
after an idle period it is all loaded, a turn sent while the steps are under way completes
as one sent before or after them, and the list is leaves first (each step runs one module).
Real servers in fresh processes (``sys.modules`` is per process), a mock model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.persistence import write_rollout
from tests.support import mock_model as mm
from tests.support.codex_ref import CODEX_CONFIG

from threadline.core.setup import RESUMED_TURN_MODULES

REPO = Path(__file__).resolve().parents[2]

_PROBE = """
import asyncio, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from tests.support.memory_server import InProcessServer
from threadline.core.setup import RESUMED_TURN_MODULES

def loaded():
    return [m for m in RESUMED_TURN_MODULES if m in sys.modules]

async def turn(client, thread_id):
    await client.request("turn/start", {"threadId": thread_id, "input": [
        {"type": "text", "text": "hello again", "text_elements": []}]})
    done = await client.wait_for_notification("turn/completed")
    turn = done["params"]["turn"]
    return {"status": turn["status"], "error": turn.get("error")}

async def main():
    mode, thread_id = sys.argv[3], sys.argv[2]
    server = InProcessServer(Path(sys.argv[1]))
    client = await server.connect()
    await client.request("thread/resume", {"threadId": thread_id})
    out = {"at_answer": loaded()}
    if mode == "idle":  # nothing comes: the steps load it all
        for _ in range(30000):
            if len(loaded()) == len(RESUMED_TURN_MODULES):
                break
            await asyncio.sleep(0.001)
        out["after_idle"] = loaded()
    elif mode == "during":  # a turn once the steps have begun, before they end
        while not loaded():
            await asyncio.sleep(0)
        out["before_turn"] = loaded()
    out["turn"] = await turn(client, thread_id)
    out["after_turn"] = loaded()
    await server.stop()
    print(json.dumps(out))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def mock_model() -> Iterator[mm.MockModel]:
    with mm.MockModel() as mock:
        mock.set_default(mm.text("ok"))
        yield mock


def _probe(tmp_path: Path, mock: mm.MockModel, mode: str) -> dict[str, object]:
    home = tmp_path / mode
    home.mkdir()
    (home / "config.toml").write_text(CODEX_CONFIG.format(base_url=mock.base_url))
    thread_id, _ = write_rollout(home, datetime(2026, 3, 1, 12, tzinfo=UTC), turns=1,
                                 reply_chars=200, text="Small thread")
    env = {**os.environ, "MOCK_OPENAI_API_KEY": "test-key", "THREADLINE_WARM_UP": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(home), thread_id, mode, str(REPO)],
        capture_output=True, text=True, check=True, timeout=180, cwd=REPO, env=env,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_an_idle_server_loads_the_resumed_threads_turn_code(
    tmp_path: Path, mock_model: mm.MockModel
) -> None:
    seen = _probe(tmp_path, mock_model, "idle")
    assert seen["at_answer"] == []  # the resume itself loads none of it
    assert seen["after_idle"] == list(RESUMED_TURN_MODULES)
    assert seen["turn"] == {"status": "completed", "error": None}


def test_a_turn_sent_while_the_steps_run_completes(
    tmp_path: Path, mock_model: mm.MockModel
) -> None:
    during = _probe(tmp_path, mock_model, "during")
    before = during["before_turn"]
    assert isinstance(before, list) and 0 < len(before) < len(RESUMED_TURN_MODULES)
    at_once = _probe(tmp_path, mock_model, "now")  # the turn imports it all itself
    assert during["turn"] == at_once["turn"] == {"status": "completed", "error": None}
    assert during["after_turn"] == at_once["after_turn"] == list(RESUMED_TURN_MODULES)


def test_the_list_is_leaves_first() -> None:
    # After what a resume loads, each listed module imports no threadline module that is
    # neither loaded already nor listed before it: a step runs one module's body.
    probe = """
import importlib, json, sys
import threadline.server.handlers.thread, threadline.server.handlers.history
import threadline.core.thread_state, threadline.core.hooks_run
from threadline.core.setup import RESUMED_TURN_MODULES
extra = {}
for name in RESUMED_TURN_MODULES:
    before = set(sys.modules)
    importlib.import_module(name)
    new = sorted(m for m in set(sys.modules) - before if m.startswith("threadline.") and m != name)
    if new:
        extra[name] = new
print(json.dumps(extra))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120, cwd=REPO)
    assert json.loads(out.stdout) == {}
