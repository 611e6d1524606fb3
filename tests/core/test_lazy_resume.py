"""A resumed thread is built without its turn code: the tools, the turn loop, review,
hooks' turn side, compaction, the user shell and the sandbox load when its first turn
needs them (``core.setup.ThreadSetup.build_thread``), and the tools it then gets are the
ones an eager build gives. A new thread still builds them at once (its first turn usually
follows right away)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "codex-0.169.0"
ROLLOUT = (
    REFERENCE / "rollouts" / "sessions" / "2026" / "11" / "25"
    / "rollout-2026-11-25T00-58-57-01a21036-8120-7382-94d1-36e16409a931.jsonl"
)
THREAD_ID = "01a21036-8120-7382-94d1-36e16409a931"

# What a resume (the handler module and the thread) must not load before a turn needs it.
TURN_CODE = {
    "threadline.core.turn", "threadline.core.turn_host", "threadline.core.review",
    "threadline.core.hook_events", "threadline.core.compaction", "threadline.core.user_shell",
    "threadline.tools.registry", "threadline.tools.shell", "threadline.tools.permissions",
    "threadline.tools.dynamic", "threadline.tools.mcp_tools", "threadline.tools.mcp_elicitation",
    "threadline.tools.patch_tool", "threadline.sandbox.bwrap", "threadline.sandbox.policy",
    "threadline.server.translate",
}

_PROBE = """
import asyncio, json, sys
from pathlib import Path
from threadline.core.config import load_config
from threadline.server import build_app_server
from threadline.core.manager import StartOptions

server, manager = build_app_server(load_config(home=Path(sys.argv[1])))
import threadline.server.handlers.thread  # what a first thread/resume request loads

def specs(registry):
    return json.loads(json.dumps(registry.specs(), default=repr, sort_keys=True))

async def main():
    thread = await manager.resume_thread(sys.argv[2])
    resumed = sorted(sys.modules)
    built = getattr(thread.session, "built_tools", None)  # before the change: always built
    built_at_resume = built is None or built() is not None
    lazy = specs(thread.tools)  # what the first turn asks for
    eager = specs(manager.tools_for(thread.settings))
    fresh = manager.start_thread(StartOptions(ephemeral=True))
    out = {"resumed": resumed, "built_at_resume": built_at_resume, "lazy": lazy,
           "eager": eager, "names": sorted(thread.tools.names()),
           "fresh_built": getattr(fresh.session, "built_tools", lambda: 1)() is not None,
           "fresh": specs(fresh.tools), "after": sorted(sys.modules)}
    await thread.shutdown_and_wait()
    await fresh.shutdown_and_wait()
    return out

print(json.dumps(asyncio.run(main())))
"""


def test_resume_loads_no_turn_code_and_the_first_turn_gets_the_same_tools(
    tmp_path: Path,
) -> None:
    target = tmp_path / "sessions" / "2026" / "11" / "25"
    target.mkdir(parents=True)
    shutil.copy(ROLLOUT, target / ROLLOUT.name)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path), THREAD_ID],
        capture_output=True, text=True, check=True, timeout=120,
    )
    seen = json.loads(out.stdout)
    resumed = set(seen["resumed"])
    assert "threadline.core.thread" in resumed and "threadline.core.setup" in resumed
    assert not resumed & TURN_CODE, sorted(resumed & TURN_CODE)
    # The home configures no MCP server: the connection manager, the server specs and the
    # OAuth store stay unloaded (``core.mcp_host.McpHost`` makes its manager at first use).
    mcp = {"threadline.mcp.manager", "threadline.mcp.specs", "threadline.mcp.oauth"}
    assert not resumed & mcp, sorted(resumed & mcp)
    assert seen["built_at_resume"] is False
    # The first use builds the tools an eager build gives, with the shell among them.
    assert "exec_command" in seen["names"]
    assert seen["lazy"] == seen["eager"]
    assert {"threadline.tools.registry", "threadline.tools.shell"} <= set(seen["after"])
    # A new thread's tools are built as it starts (its first turn finds them).
    assert seen["fresh_built"] is True
    assert seen["fresh"] == seen["eager"]
    # ... and so is its turn code: the resumed thread's tools do not load it.
    assert {"threadline.core.turn", "threadline.core.compaction", "threadline.core.review",
            "threadline.core.user_shell"} <= set(seen["after"])


def test_the_turn_loop_loads_without_the_tools() -> None:
    # What a resumed thread's first turn imports before turn/started (the turn loop, its host
    # and hook calls) leaves the tools to the thread's tools build, which comes after it,
    # and the compaction code to the turn's first check for compaction (after it too).
    probe = (
        "import json, sys\n"
        "import threadline.server.handlers.thread\n"
        "import threadline.core.turn\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    loaded = set(json.loads(out.stdout))
    assert {"threadline.core.turn", "threadline.core.turn_host",
            "threadline.core.hook_events"} <= loaded
    later = {"threadline.tools.registry", "threadline.tools.mcp_tools",
             "threadline.tools.mcp_elicitation", "threadline.core.compaction"}
    assert not loaded & later, sorted(loaded & later)
