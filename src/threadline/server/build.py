"""The one place an app-server is wired, top-down.

:func:`build_app_server` makes each piece once and hands it what it needs: the
thread manager for the config; the server with its (empty) method table; the router,
given the server's broadcast and told of each new connection; the runtime the handlers
share; then every handler registered in that one table. Nothing below reaches back up:
a connection gets the table's ``dispatch`` and the server's ``initialize`` answer, the
router a broadcast function, handlers a ``RequestContext`` and the runtime.
"""

from __future__ import annotations

from threadline.core.config import Config
from threadline.core.manager import ThreadManager
from threadline.server.app import AppServer
from threadline.server.dispatch import MethodTable
from threadline.server.handlers import Runtime, register_handlers
from threadline.server.router import ThreadRouter

__all__ = ["build_app_server"]


def build_app_server(
    config: Config, *, test_methods: bool | None = None
) -> tuple[AppServer, ThreadManager]:
    """The app-server for ``config`` and the thread manager behind it.

    ``test_methods`` adds the test-only methods (``handlers/testing.py``); by default
    they are served only with ``THREADLINE_TEST_SLOW_METHOD=1`` in the environment.
    The caller owns the manager: ``await manager.shutdown()`` when serving ends.
    """
    manager = ThreadManager(config)
    table = MethodTable()
    server = AppServer(table, home=config.home)
    server.readiness = manager.store_problem
    router = ThreadRouter(manager, server.broadcast)
    server.on_connect(router.connection_opened)
    runtime = Runtime(manager, router, server.broadcast)
    register_handlers(table, runtime, test_methods=test_methods)
    # Goal changes reach every connection once a thread is loaded (only a loaded thread's
    # tools change a goal without a request; the goal requests attach it themselves).
    manager.on_thread_loaded(lambda _thread: _attach_goals(runtime))
    return server, manager


def _attach_goals(runtime: Runtime) -> None:
    from threadline.server.handlers import goals

    goals.attach(runtime)
