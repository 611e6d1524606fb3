"""Running ``threadline app-server`` once its options are known, without typer or rich.

Both ways into the command use this module: the typer command (``cli.app_server``) and the
fast path for the usual command lines (``cli.fast``), which starts the server without
loading the command-line toolkit at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from threadline.core.manager import ThreadManager
    from threadline.server import AppServer
    from threadline.server.transports.websocket import ListenAddress

T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on a fresh event loop: uvloop's when it is installed, else asyncio's.

    uvloop wakes up and moves bytes for a fraction of the standard loop's CPU, which is
    what a server relaying one notification per model token spends most of its time
    on. ``THREADLINE_EVENT_LOOP=asyncio`` forces the standard loop.
    """
    if os.environ.get("THREADLINE_EVENT_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def announce(address: ListenAddress) -> None:
    """What a websocket server prints on stderr once it listens."""
    from threadline.protocol.net import is_loopback_host

    print(f"listening on: {address.url}", file=sys.stderr, flush=True)
    print(f"readyz: {address.http_base}/readyz", file=sys.stderr, flush=True)
    print(f"healthz: {address.http_base}/healthz", file=sys.stderr, flush=True)
    if is_loopback_host(address.host):
        print("note: binds localhost only", file=sys.stderr, flush=True)


def settle_heap() -> None:
    """Move everything loaded so far (modules, pydantic schemas: it lives as long as the
    process) out of the collector's reach and turn the collector back on.

    Start-up builds hundreds of thousands of long-lived objects; collecting while it does
    (or a full ``gc.collect()`` before serving) only walks them again. The entry point
    switches the collector off while it imports; freezing instead of collecting keeps
    the full collections made while serving short.
    """
    gc.freeze()
    gc.enable()


async def serve(
    server: AppServer,
    manager: ThreadManager,
    kind: str,
    host: str | None,
    port: int | None,
    digest: bytes | None,
) -> None:
    """Serve on stdio (``kind == "stdio"``) or a websocket until the client goes away or a
    signal arrives; then shut the manager down (turns end, rollouts flushed)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, server.shutdown)
    settle_heap()
    # The warm-up starts once the client's first requests are answered (or none came), so
    # a first thread/list or resume does not share the interpreter with it.
    server.when_settled(warm_up_later)
    try:
        if kind == "stdio":
            await server.serve_stdio()
        else:
            assert host is not None and port is not None
            await server.serve_websocket(host, port, token_sha256=digest, on_listening=announce)
    finally:
        # Running turns end, rollouts are flushed and synced, index rows written and
        # model connections closed before the process exits.
        await manager.shutdown()


WARM_UP_MODULES: Sequence[str] = (
    "threadline.model.responses", "threadline.model.chat", "threadline.tools.patch_flow",
)
"""What the first turn needs and start-up does not: the model clients (and the ``openai``
SDK under them, a few hundred milliseconds of imports), and the patch parser and writer
(``tools.patch_tool`` loads them with a thread's first patch or shell command)."""

WARM_UP_SWITCH_INTERVAL_S = 0.0002
"""How often the interpreter lock may change hands while the warm-up works (0.2 ms)."""

WARM_UP_MAX_WAIT_S = 1.0
"""The longest the warm-up waits, before one model or module, for the event loop's thread
to be idle (under a loop kept busy for long, it moves on one step a second)."""

HOT_MODEL_MODULES: Sequence[str] = (
    "threadline.protocol.v2.thread",
    "threadline.protocol.v2.thread_meta",
    "threadline.protocol.v2.thread_ops",
    "threadline.protocol.v2.turn",
    "threadline.protocol.v2.item",
    "threadline.protocol.v2.item_parts",
    "threadline.protocol.v2.usage",
    "threadline.protocol.events",
    "threadline.protocol.items",
)
"""Modules whose wire models (built on first use: ``defer_build``) every session's first
``thread/start``, resume and turn use; the warm-up builds them after the imports."""


def build_deferred_models(
    module_names: Sequence[str], before_each: Callable[[], object] | None = None
) -> int:
    """Build the validator and serializer of every not yet built pydantic model defined in
    the (already imported) modules ``module_names``, each after the models its fields name
    (``core.warm_up.build_bottom_up``); returns how many it built. ``before_each`` runs
    before each build."""
    from pydantic import BaseModel

    from threadline.core.warm_up import build_bottom_up

    models: list[type[BaseModel]] = []
    for name in module_names:
        module = sys.modules.get(name)
        if module is None:
            continue
        models.extend(
            value
            for value in list(vars(module).values())
            if isinstance(value, type)
            and issubclass(value, BaseModel)
            and value.__module__ == name
            and not value.__pydantic_complete__
        )
    return build_bottom_up(models, before_each)


def warm_up_later(
    modules: Sequence[str] = WARM_UP_MODULES, models: Sequence[str] = HOT_MODEL_MODULES
) -> None:
    """On a daemon thread: import ``modules`` (the model SDK: what a first model request
    waits for, a few hundred milliseconds), build the models of a first turn
    (``core.warm_up.FIRST_TURN_MODELS`` and ``FIRST_ANSWER_MODELS``, bottom-up), then the
    models of ``models``, so the first turn finds them ready. (A process's first
    ``thread/start`` comes before the warm-up starts and builds the wire ``Thread`` and the
    turn and item models under it bottom-up itself: ``core.warm_up.build_thread_models``.)

    Call it on the event loop's thread. The warm-up yields to requests: before each model
    it builds and each module it imports (the SDK's own included) it waits while that
    thread is busy (``core.warm_up.Yielder``, at most ``WARM_UP_MAX_WAIT_S`` each time), so
    it runs while the loop waits for requests and a request shares the interpreter with
    at most the one step under way. Once a turn waits for its model client
    (``core.warm_up.waiting_for_model_client``) the imports stop yielding and, while it
    waits, the model builds hold back. Turned off with
    ``THREADLINE_WARM_UP=0``. A module that fails to import is left for the turn that needs
    it to report.
    """
    if os.environ.get("THREADLINE_WARM_UP", "1") == "0":
        return
    import threading

    from threadline.core.warm_up import (
        FIRST_ANSWER_MODELS,
        FIRST_TURN_MODELS,
        Yielder,
        build_bottom_up,
        import_yielding,
        model_client_awaited,
        model_client_wanted,
        models_named,
    )

    loop_thread = threading.get_ident()

    def work() -> None:
        # The interpreter lock changes hands every 5 ms by default: a request arriving while
        # this thread imports would wait that long each time it needs the lock back.
        yielder = Yielder(
            loop_thread, max_wait_s=WARM_UP_MAX_WAIT_S,
            step_switch_interval_s=WARM_UP_SWITCH_INTERVAL_S, hold=model_client_awaited,
        )

        def before_module() -> None:
            # The imports give way to requests until a turn waits for these very modules.
            yielder.wait(model_client_wanted, use_hold=False)

        try:
            import_yielding(modules, before_module, until=model_client_wanted)
            first_turn = models_named(FIRST_TURN_MODELS)
            first_answer = models_named(FIRST_ANSWER_MODELS)
            build_bottom_up(first_turn, yielder.wait, shared_with=first_answer)
            build_bottom_up(first_answer, yielder.wait, shared_with=first_turn)
            build_deferred_models(models, yielder.wait)
        finally:
            yielder.close()

    threading.Thread(target=work, name="threadline-warm-up", daemon=True).start()
