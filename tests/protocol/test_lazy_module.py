"""``protocol.lazy_module``: stand-ins that import their module on first use, and then
behave as the real module or attribute."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_PROBE = """
import json, sys
from threadline.protocol.lazy_module import lazy_attribute, lazy_module
reader = lazy_module("threadline.rollout.reader")
event_msg = lazy_attribute("threadline.protocol.rollout", "EventMsg")
before = ["threadline.rollout.reader" in sys.modules, "threadline.protocol.rollout" in sys.modules]
read_head = reader.read_head
event = event_msg.model_validate({"type": "thread_rolled_back", "num_turns": 2})
built = event_msg(type="thread_rolled_back", num_turns=3)
from threadline.protocol.rollout import EventMsg
from threadline.rollout.reader import read_head as real_read_head
print(json.dumps({
    "before": before,
    "same_function": read_head is real_read_head,
    "event": type(event).__name__, "real_type": type(event) is type(EventMsg.model_validate(
        {"type": "thread_rolled_back", "num_turns": 2})),
    "dump": event.model_dump(mode="json"), "built": built.model_dump(mode="json"),
    "repr": [repr(reader), repr(event_msg)],
}))
"""


def test_stand_ins_import_on_first_use_and_forward_to_the_real_objects() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(out.stdout)
    assert seen["before"] == [False, False]
    assert seen["same_function"] is True
    assert seen["real_type"] is True
    assert seen["dump"]["num_turns"] == 2 and seen["built"]["num_turns"] == 3
    assert seen["repr"] == [
        "<lazy module 'threadline.rollout.reader'>", "<lazy threadline.protocol.rollout.EventMsg>"
    ]


_RACE = """
import sys, threading, time
sys.path.insert(0, sys.argv[1])
from threadline.protocol.lazy_module import lazy_module
from contextlib import nullcontext
slow = lazy_module("slow_to_import")
paused = lazy_module("slow_to_import", around=nullcontext)
def importer():
    import slow_to_import  # half-built in sys.modules while it sleeps
threading.Thread(target=importer).start()
while "slow_to_import" not in sys.modules:
    time.sleep(0.001)
print(slow.VALUE, paused.VALUE)
"""


def test_a_module_another_thread_is_importing_is_waited_for(tmp_path: Path) -> None:
    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(0.3)\nVALUE = 42\n")
    out = subprocess.run(
        [sys.executable, "-c", _RACE, str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    assert out.stdout.split() == ["42", "42"]
