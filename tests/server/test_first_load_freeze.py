"""The thread code and what a process's first resume builds are frozen out of the
collector's way (``server/handlers/thread.py``): the thread area's import freezes the heap,
and so does the end of the first resume's collector pause, once; a later fork or resume
leaves the heap to the collector (a freeze would also keep whatever cycles are alive then).
A real server in a fresh process (the freeze is process-wide), on a reference rollout; its
answers are those of a server that does not freeze (compared with the collector off)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference" / "codex-0.169.0"
ROLLOUT = (
    REFERENCE / "rollouts" / "sessions" / "2026" / "11" / "25"
    / "rollout-2026-11-25T00-58-57-01a21036-8120-7382-94d1-36e16409a931.jsonl"
)
THREAD_ID = "01a21036-8120-7382-94d1-36e16409a931"

_PROBE = """
import asyncio, gc, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.support.memory_server import InProcessServer
from threadline.core.stored import loading

async def settled():
    while loading():  # the pause ends once the answer is written
        await asyncio.sleep(0.01)

async def main():
    server = InProcessServer(Path(sys.argv[1]))
    client = await server.connect()
    counts = {"start": gc.get_freeze_count()}
    import threadline.server.handlers.thread  # the area a first thread/resume loads
    counts["area"] = gc.get_freeze_count()
    resumed = await client.request("thread/resume", {"threadId": sys.argv[2]})
    await settled()
    counts["resumed"] = gc.get_freeze_count()
    forked = await client.request("thread/fork", {"threadId": sys.argv[2]})
    await settled()
    counts["forked"] = gc.get_freeze_count()
    await server.stop()
    for answer in (resumed, forked):  # the home, the fork's id and the times differ
        fork_keys = ("id", "sessionId", "createdAt") if answer is forked else ()
        for key in ("path", "updatedAt", "recencyAt", *fork_keys):
            answer["thread"].pop(key, None)
    return {"counts": counts, "resumed": resumed, "forked": forked}

if sys.argv[4] == "off":
    gc.disable()
    gc.freeze = lambda: None  # the server as it was: nothing frozen after start
print(json.dumps(asyncio.run(main()), sort_keys=True))
"""


def _run(tmp_path: Path, name: str, mode: str) -> dict[str, object]:
    home = tmp_path / name
    target = home / "sessions" / "2026" / "11" / "25"
    target.mkdir(parents=True)
    shutil.copy(ROLLOUT, target / ROLLOUT.name)
    # No warm-up: after a first resume its idle import steps end with a freeze of their own
    # (core.warm_up.import_in_idle_steps), which a slow fork would see as a second one.
    env = {**os.environ, "THREADLINE_WARM_UP": "0"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(home), THREAD_ID, str(REPO), mode],
        capture_output=True, text=True, check=True, timeout=120, cwd=REPO, env=env,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_thread_area_and_the_first_resume_are_frozen_once(tmp_path: Path) -> None:
    seen = _run(tmp_path, "on", "on")
    counts = seen["counts"]
    assert isinstance(counts, dict)
    assert counts["area"] > counts["start"]  # the area's import froze what it loaded
    assert counts["resumed"] > counts["area"]  # so did the first resume's end
    # A later load does not freeze again (frozen objects freed meanwhile lower the count).
    assert counts["forked"] <= counts["resumed"]
    plain = _run(tmp_path, "off", "off")
    assert seen["resumed"] == plain["resumed"]
    assert seen["forked"] == plain["forked"]
