"""The lazy method table: the name index of ``protocol.methods`` and ``server.handlers``
agrees exactly with the areas' ``REQUESTS``/``THREADLINE_REQUESTS``/``HANDLERS``, a process
start imports no handler module and no area's wire types, and a method's first call loads
them.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.memory_server import MemoryServerFactory

from threadline.protocol import methods
from threadline.protocol.v2.thread_ops import ThreadLoadedListParams, ThreadLoadedListResponse
from threadline.server import handlers
from threadline.server.dispatch import MethodTable, RequestContext


def test_request_index_names_every_area_row_and_nothing_else() -> None:
    from_areas: dict[str, str] = {}
    for area in methods.AREAS:
        module = importlib.import_module(f"threadline.protocol.v2.{area}")
        rows = [*module.REQUESTS, *getattr(module, "THREADLINE_REQUESTS", {})]
        for method in rows:
            assert method not in from_areas, (method, area, from_areas.get(method))
            from_areas[method] = area
    assert methods.REQUEST_AREAS == from_areas


def test_lazy_lookup_gives_the_full_tables_types() -> None:
    full = {**methods.CLIENT_REQUESTS}
    assert not set(full) & set(methods.THREADLINE_REQUESTS)
    full.update(methods.THREADLINE_REQUESTS)
    known = methods.known_client_methods()
    assert len(known) == len(set(known))
    assert set(known) == set(full)
    for method, types in full.items():
        assert methods.client_request_types(method) == types, method
    assert methods.client_request_types("no/such") is None


def test_handler_index_is_exact() -> None:
    index = handlers.HANDLER_INDEX
    assert set(index) == set(handlers.HANDLERS)
    for area in handlers.AREAS:
        module = importlib.import_module(f"threadline.server.handlers.{area}")
        for method, handler in module.HANDLERS.items():
            assert index.get(method) == (area, None), method
            assert handlers.HANDLERS[method] is handler
    for method, (module_name, attr) in index.items():
        module = importlib.import_module(f"threadline.server.handlers.{module_name}")
        if attr is None:
            assert module_name in handlers.AREAS and method in module.HANDLERS, method
        else:
            assert handlers.HANDLERS[method] is getattr(module, attr), method
    # Every served method has its types in the protocol table.
    assert all(methods.client_request_types(method) is not None for method in index)


_PROBE = """
import json, sys
from threadline.core.config import load_config
from threadline.server import build_app_server
server, manager = build_app_server(load_config(home=__import__("pathlib").Path(sys.argv[1])))
before = sorted(m for m in sys.modules if m.startswith("threadline."))
spec = server.method_table.get("fs/readFile")
after = sorted(m for m in sys.modules if m.startswith("threadline."))
print(json.dumps({"before": before, "after": after, "params": spec.params_type.__name__}))
"""


def test_start_imports_no_handler_area_and_a_first_call_does(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    seen = json.loads(out.stdout)
    before = set(seen["before"])
    lazy = {f"threadline.server.handlers.{area}" for area in ("fs", "account", "config",
                                                              "unsupported", "providers")}
    lazy |= {f"threadline.protocol.v2.{area}" for area in ("fs", "account", "config",
                                                           "unsupported", "providers")}
    # The event table (and every notification's wire models) loads with the first event.
    lazy |= {"threadline.server.events", "threadline.server.requests",
             "threadline.protocol.v2.misc", "threadline.protocol.v2.approval"}
    assert not before & lazy, sorted(before & lazy)
    assert "threadline.server.handlers.fs" in seen["after"]
    assert "threadline.protocol.v2.fs" in seen["after"]
    assert seen["params"] == "FsReadFileParams"


# What a start does not load: the thread web (a thread's setup, turn loop, tools, sandbox,
# MCP, hooks, skills), the relay, the thread-state area and ``command/exec``'s runner.
_THREAD_WEB = {
    "threadline.core.setup", "threadline.core.thread", "threadline.core.turn",
    "threadline.core.session", "threadline.core.pending_asks", "threadline.core.relay",
    "threadline.core.thread_state", "threadline.core.command_exec", "threadline.core.hooks",
    "threadline.core.skills", "threadline.core.mcp_host", "threadline.mcp.manager",
    "threadline.model.base", "threadline.tools.registry", "threadline.tools.shell",
    "threadline.sandbox.bwrap", "threadline.sandbox.policy",
    "threadline.protocol.v2.thread_state", "threadline.server.handlers.thread_state",
    "threadline.protocol.events", "threadline.protocol.ops",
    "threadline.server.handlers.common", "threadline.protocol.v2.thread",
    "threadline.protocol.v2.thread_ops",
    "threadline.core.model_catalog",
    # A start reads no rollout: the reader, writer and turn builder, the wire models of a
    # turn and its items, and the other stores load with the first thread or list.
    "threadline.store.rollouts", "threadline.rollout.history", "threadline.rollout.turns",
    "threadline.store.memory", "threadline.store.postgres",
    "threadline.protocol.v2.turn", "threadline.protocol.v2.item",
    "threadline.protocol.v2.item_parts",
    # ... nor the rollout models (a rename, a rollback, a new session_meta load them).
    "threadline.protocol.rollout", "threadline.protocol.items", "threadline.rollout.reader",
    # ... nor the test-only methods unless THREADLINE_TEST_SLOW_METHOD=1 asks for them.
    "threadline.server.handlers.testing",
    # ... nor the cgroup code (the config needs only the default process limit), the
    # fs/watch registry, the state tables (they load with the first list: see below) or the
    # writer locks (with the first thread written to).
    "threadline.sandbox.limits", "threadline.core.files_watch", "threadline.store.thread_state",
    "threadline.store.locks",
}


def test_start_loads_no_thread_web_and_a_thread_does(tmp_path: Path) -> None:
    probe = """
import json, sys
from pathlib import Path
from threadline.core.config import load_config
from threadline.server import build_app_server
server, manager = build_app_server(load_config(home=Path(sys.argv[1])))
start = sorted(m for m in sys.modules if m.startswith("threadline."))
from threadline.core.manager import StartOptions  # the re-export loads core.setup
thread = manager.start_thread(StartOptions(ephemeral=True))
print(json.dumps({"start": start, "thread": sorted(sys.modules), "id": thread.id}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    seen = json.loads(out.stdout)
    assert not set(seen["start"]) & _THREAD_WEB, sorted(set(seen["start"]) & _THREAD_WEB)
    # The parts built on first need are the real ones: a thread starts with them.
    assert seen["id"]
    loaded = set(seen["thread"])
    assert {"threadline.core.setup", "threadline.core.thread", "threadline.core.thread_state",
            "threadline.tools.shell", "threadline.protocol.events"} <= loaded
    # Goal changes are relayed from then on, without the thread-state area's wire types.
    assert "threadline.server.handlers.goals" in loaded
    assert "threadline.protocol.v2.thread_state" not in loaded
    # The patch parser and writer load with the first patch or shell command (or the warm-up).
    assert not {"threadline.tools.apply_patch", "threadline.tools.patch_flow"} & loaded


def test_the_state_tables_load_with_the_first_list(tmp_path: Path) -> None:
    """``initialize`` needs no state table; a list does (outside appends are checked
    against the sizes kept there), and gets them on first use."""
    probe = """
import asyncio, json, sys
from pathlib import Path
from threadline.core.config import load_config
from threadline.server import build_app_server
from threadline.store.base import ListQuery
server, manager = build_app_server(load_config(home=Path(sys.argv[1])))
start = "threadline.store.thread_state" in sys.modules
async def main():
    page = await manager.store.list(ListQuery())
    await manager.shutdown()
    return page
page = asyncio.run(main())
print(json.dumps({"start": start, "listed": "threadline.store.thread_state" in sys.modules,
                  "rows": len(page.records)}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    assert json.loads(out.stdout) == {"start": False, "listed": True, "rows": 0}


REFERENCE_SESSIONS = (
    Path(__file__).resolve().parents[2].parent
    / "shared" / "reference" / "codex-0.169.0" / "rollouts" / "sessions"
)


def test_a_first_list_builds_only_the_lists_thread_models(tmp_path: Path) -> None:
    """A client's first request is usually ``thread/list``: its handler module and the wire
    types it names (``protocol.v2.thread``) load, but not the other ``thread/*`` methods'
    (``protocol.v2.thread_meta``: read, name, archive, the status note; ``thread_ops``:
    start, resume, fork, the pages, ...) nor the settings' types; the first method that
    needs those loads them. The home holds the reference threads, so the list answers rows."""
    home = tmp_path / "home"
    shutil.copytree(REFERENCE_SESSIONS, home / "sessions")
    for path in (home / "sessions").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    probe = """
import asyncio, json, sys
from pathlib import Path
from threadline.core.config import load_config
from threadline.server import build_app_server
from threadline.server.transports.memory import memory_pair
server, manager = build_app_server(load_config(home=Path(sys.argv[1])))
async def request(client, id, method, params):
    client.send({"id": id, "method": method, "params": params})
    while (message := await client.receive()) is not None and message.get("id") != id:
        pass
    return message
async def main():
    server_end, client = memory_pair()
    serving = asyncio.create_task(server.serve_channel(server_end))
    await request(client, 1, "initialize", {"clientInfo": {"name": "probe", "version": "1"}})
    client.send({"method": "initialized"})
    listed = await request(client, 2, "thread/list", {"modelProviders": []})
    thread = sys.modules["threadline.protocol.v2.thread"]
    seen = {"listed": listed, "loaded": sorted(sys.modules),
            "resume_params_built": hasattr(thread, "ThreadResumeParams")}
    seen["loaded_list"] = await request(client, 3, "thread/loaded/list", {})
    seen["after"] = sorted(sys.modules)
    seen["read"] = await request(client, 4, "thread/read", {"threadId": listed["result"]["data"][0]["id"]})
    seen["after_read"] = sorted(sys.modules)
    serving.cancel()
    await manager.shutdown()
    return seen
print(json.dumps(asyncio.run(main())))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe, str(home)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    seen = json.loads(out.stdout)
    rows = seen["listed"]["result"]["data"]
    assert len(rows) == len(list((home / "sessions").rglob("rollout-*.jsonl"))) > 0
    assert all(row["status"] == {"type": "notLoaded"} for row in rows)
    assert {"threadline.server.handlers.thread_list", "threadline.protocol.v2.thread"} <= set(
        seen["loaded"]
    )
    not_for_a_list = {
        "threadline.protocol.v2.thread_ops", "threadline.protocol.v2.thread_meta",
        "threadline.server.handlers.thread_meta", "threadline.protocol.v2.settings",
        # The sections of the rows are read without the thread-state service.
        "threadline.core.thread_state",
    }
    assert not not_for_a_list & set(seen["loaded"]), sorted(not_for_a_list & set(seen["loaded"]))
    assert seen["resume_params_built"] is False
    # The rest load with the first method that names them.
    assert seen["loaded_list"]["result"] == {"data": [], "nextCursor": None}
    assert "threadline.protocol.v2.thread_ops" in seen["after"]
    assert seen["read"]["result"]["thread"]["id"] == rows[0]["id"]
    assert {"threadline.server.handlers.thread_meta", "threadline.protocol.v2.thread_meta"} <= set(
        seen["after_read"]
    )


def test_the_event_table_loads_its_rarer_models_when_named(tmp_path: Path) -> None:
    """A resume imports the event table (``server/translate.py``) but neither
    ``protocol.v2.misc`` nor ``protocol.v2.skills``: a row names their models by name,
    and its params model and its first notification load them."""
    probe = """
import json, sys
from threadline.server import events
before = sorted(m for m in sys.modules if m.startswith("threadline.protocol.v2."))
[route] = events.EVENT_TABLE[events.ev.WarningEvent]
params = route.params.__name__
note = events.empty_rate_limits().model_dump(by_alias=True)
print(json.dumps({"before": before, "params": params, "note": note,
                  "after": sorted(m for m in sys.modules if m.startswith("threadline."))}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(out.stdout)
    assert "threadline.protocol.v2.misc" not in seen["before"]
    assert "threadline.protocol.v2.skills" not in seen["before"]
    assert seen["params"] == "WarningNotification"
    assert seen["note"]["rateLimits"]["limitId"] == "codex"
    assert "threadline.protocol.v2.misc" in seen["after"]


def test_a_row_missing_from_the_index_is_found_on_a_miss() -> None:
    table = MethodTable()

    async def loaded(ctx: RequestContext, p: ThreadLoadedListParams) -> ThreadLoadedListResponse:
        return ThreadLoadedListResponse(data=[])

    calls: list[str] = []

    def register_missing() -> None:
        calls.append("missing")
        table.register("thread/loaded/list", loaded)

    table.complete_with(register_missing)
    table.register_lazy("thread/list", lambda: loaded)  # resolved (and checked) on first use
    assert calls == []
    spec = table.get("thread/loaded/list")
    assert calls == ["missing"] and spec is not None and spec.handler is loaded
    assert table.get("no/such") is None and calls == ["missing"]  # runs once
    with pytest.raises(TypeError, match="takes"):
        table.get("thread/list")  # the lazily named handler has the wrong types


async def test_lazy_methods_answer_over_the_wire(memory_server: MemoryServerFactory) -> None:
    client = (await memory_server()).client
    result = await client.request("thread/loaded/list", {})
    assert result == {"data": [], "nextCursor": None}
    error = await client.request_error("no/such/method", {})
    assert error["code"] == -32601
    assert "`fs/readFile`" in error["message"] and "`thread/list`" in error["message"]


async def test_settled_work_waits_for_the_first_answer(
    memory_server: MemoryServerFactory,
) -> None:
    """``AppServer.when_settled`` (how ``cli/serve.py`` starts the warm-up): not while the
    first request runs, once it is answered and nothing else is in flight."""
    in_process = await memory_server()
    server, client = in_process.server, in_process.client
    ran: list[float] = []
    loop = asyncio.get_running_loop()
    server.when_settled(lambda: ran.append(loop.time()), quiet_s=0.01, first_wait_s=5.0)
    pending = asyncio.ensure_future(client.request("test/sleep", {"ms": 300}))
    await asyncio.sleep(0.2)
    assert ran == []  # the request is in flight
    await pending
    answered = loop.time()
    for _ in range(100):
        if ran:
            break
        await asyncio.sleep(0.01)
    assert len(ran) == 1 and ran[0] >= answered - 0.05
    await client.request("thread/loaded/list", {})
    await asyncio.sleep(0.05)
    assert len(ran) == 1  # once


async def test_settled_work_runs_when_no_request_comes(
    memory_server: MemoryServerFactory,
) -> None:
    in_process = await memory_server()
    ran: list[str] = []
    in_process.server.when_settled(lambda: ran.append("x"), first_wait_s=0.05)
    await asyncio.sleep(0.3)
    assert ran == ["x"]


def test_the_test_methods_switch_is_one_name() -> None:
    from threadline.server import handlers
    from threadline.server.handlers import testing

    assert handlers.TEST_METHODS_ENV == testing.TEST_METHODS_ENV
