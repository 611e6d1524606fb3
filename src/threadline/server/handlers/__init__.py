"""Request handlers, one module per resource; :func:`build_method_table` registers them all."""

from __future__ import annotations

import os

from threadline.core.manager import ThreadManager
from threadline.server.dispatch import MethodTable
from threadline.server.handlers.basic import register_basic, register_test_methods

__all__ = ["build_method_table", "build_runtime"]

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadline.server.app import AppServer
    from threadline.server.handlers.common import Runtime


def build_method_table(manager: ThreadManager, runtime: Runtime | None = None) -> MethodTable:
    """Every client→server method this server implements (``initialize`` is handled by
    the connection itself). Thread and turn methods need a ``runtime`` (see :func:`build_runtime`).

    With ``THREADLINE_TEST_SLOW_METHOD=1`` in the environment, test-only methods are
    added too (see ``handlers.basic.TEST_SLOW_METHOD``).
    """
    table = MethodTable()
    register_basic(table, manager)
    if runtime is not None:
        from threadline.server.handlers.meta import register_meta
        from threadline.server.handlers.persistence import register_persistence
        from threadline.server.handlers.threads import register_threads
        from threadline.server.handlers.turns import register_turns

        register_threads(table, runtime)
        register_turns(table, runtime)
        register_meta(table, runtime)
        register_persistence(table, runtime)
    if os.environ.get("THREADLINE_TEST_SLOW_METHOD") == "1":
        register_test_methods(table)
    return table


def build_runtime(server: AppServer, manager: ThreadManager) -> Runtime:
    """Connect ``manager``'s threads to ``server``'s connections and register every handler."""
    from threadline.server.handlers.common import Runtime
    from threadline.server.router import ThreadRouter

    runtime = Runtime(manager, ThreadRouter(server, manager))
    server.method_table = build_method_table(manager, runtime)
    return runtime
