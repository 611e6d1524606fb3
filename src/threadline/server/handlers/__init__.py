"""Request handlers, one module per resource, and :data:`HANDLERS`: which one answers
which method.

The params and response types of every method are ``protocol.methods``'; a handler is
``async def <name>(rt: Runtime, ctx: RequestContext, params: <Params>) -> <Response>``,
registered bound to the runtime by :func:`register_handlers` (``server/build.py`` wires
the server and calls it once).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from threadline.core.stored import pause_collector
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.handlers.runtime import Runtime

if TYPE_CHECKING:  # built on first access, see ``__getattr__``
    HANDLERS: dict[str, RuntimeHandler]

__all__ = ["AREAS", "DETACHED", "HANDLERS", "HANDLER_INDEX", "Runtime", "register_handlers"]

TEST_METHODS_ENV = "THREADLINE_TEST_SLOW_METHOD"
"""``1`` serves the test-only methods (``handlers/testing.py``; its ``TEST_METHODS_ENV``)."""

RuntimeHandler = Callable[[Runtime, RequestContext, Any], Awaitable[BaseModel]]

HANDLER_INDEX: dict[str, tuple[str, str | None]] = {
    "thread/start": ("thread", "thread_start"),
    "thread/resume": ("thread", "thread_resume"),
    "thread/fork": ("thread", "thread_fork"),
    "thread/unsubscribe": ("thread", "thread_unsubscribe"),
    "thread/inject_items": ("thread", "thread_inject_items"),
    "thread/loaded/list": ("thread", "thread_loaded_list"),
    "thread/rollback": ("thread", "thread_rollback"),
    "thread/memoryMode/set": ("thread", "thread_memory_mode_set"),
    "thread/increment_elicitation": ("thread", "thread_increment_elicitation"),
    "thread/decrement_elicitation": ("thread", "thread_decrement_elicitation"),
    "thread/compact/start": ("compact", "thread_compact_start"),
    "thread/list": ("thread_list", "thread_list"),
    "thread/read": ("thread_meta", "thread_read"),
    "thread/name/set": ("thread_meta", "thread_name_set"),
    "thread/archive": ("thread_meta", "thread_archive"),
    "thread/unarchive": ("thread_meta", "thread_unarchive"),
    "turn/start": ("turn", "turn_start"),
    "turn/steer": ("turn", "turn_steer"),
    "turn/interrupt": ("turn", "turn_interrupt"),
    "model/list": ("model", "model_list"),
    "command/exec": ("command", "command_exec"),
    "command/exec/write": ("command", "command_exec_write"),
    "command/exec/terminate": ("command", "command_exec_terminate"),
    "command/exec/resize": ("command", "command_exec_resize"),
    "thread/shellCommand": ("command", "thread_shell_command"),
    "mcpServerStatus/list": ("mcp", "mcp_server_status_list"),
    "mcpServer/tool/call": ("mcp", "mcp_tool_call"),
    "mcpServer/resource/read": ("mcp", "mcp_resource_read"),
    "config/mcpServer/reload": ("mcp", "config_mcp_server_reload"),
    "account/read": ("account", None),
    "account/login/start": ("account", None),
    "account/login/cancel": ("account", None),
    "account/logout": ("account", None),
    "account/rateLimits/read": ("account", None),
    "account/usage/read": ("account", None),
    "account/gatewayOAuth/read": ("account", None),
    "config/read": ("config", None),
    "config/value/write": ("config", None),
    "config/batchWrite": ("config", None),
    "configRequirements/read": ("config", None),
    "experimentalFeature/list": ("config", None),
    "experimentalFeature/enablement/set": ("config", None),
    "permissionProfile/list": ("config", None),
    "externalAgentConfig/detect": ("config", None),
    "externalAgentConfig/import": ("config", None),
    "externalAgentConfig/import/recordHistory": ("config", None),
    "externalAgentConfig/import/readHistories": ("config", None),
    "fs/readFile": ("fs", None),
    "fs/writeFile": ("fs", None),
    "fs/createDirectory": ("fs", None),
    "fs/getMetadata": ("fs", None),
    "fs/readDirectory": ("fs", None),
    "fs/remove": ("fs", None),
    "fs/copy": ("fs", None),
    "fs/watch": ("fs", None),
    "fs/unwatch": ("fs", None),
    "fuzzyFileSearch": ("fs", None),
    "feedback/save": ("fs", None),
    "thread/turns/list": ("history", None),
    "thread/items/list": ("history", None),
    "mcpServer/oauth/login": ("mcp", None),
    "modelProvider/list": ("providers", None),
    "modelProvider/capabilities/read": ("providers", None),
    "modelProvider/config/write": ("providers", None),
    "modelProvider/default/set": ("providers", None),
    "review/start": ("review", None),
    "skills/list": ("skills", None),
    "skills/extraRoots/set": ("skills", None),
    "skills/config/write": ("skills", None),
    "hooks/list": ("skills", None),
    "thread/delete": ("thread_state", None),
    "thread/metadata/update": ("thread_state", None),
    "thread/goal/set": ("thread_state", None),
    "thread/goal/get": ("thread_state", None),
    "thread/goal/clear": ("thread_state", None),
    "thread/revert": ("thread_state", None),
    "threadSection/list": ("thread_state", None),
    "threadSection/create": ("thread_state", None),
    "threadSection/update": ("thread_state", None),
    "threadSection/delete": ("thread_state", None),
    "thread/section/move": ("thread_state", None),
    "thread/attachment/add": ("thread_state", None),
    "thread/attachment/list": ("thread_state", None),
    "thread/attachment/remove": ("thread_state", None),
    "thread/attachmentOwner/list": ("thread_state", None),
    "thread/approveGuardianDeniedAction": ("thread_state", None),
    "plugin/list": ("unsupported", None),
    "plugin/installed": ("unsupported", None),
    "plugin/reconcile": ("unsupported", None),
    "plugin/share/list": ("unsupported", None),
    "marketplace/upgrade": ("unsupported", None),
    "app/list": ("unsupported", None),
    "app/installed": ("unsupported", None),
    "app/read": ("unsupported", None),
    "account/workspaceMessages/read": ("unsupported", None),
    "marketplace/add": ("unsupported", None),
    "marketplace/remove": ("unsupported", None),
    "plugin/read": ("unsupported", None),
    "plugin/skill/read": ("unsupported", None),
    "plugin/share/save": ("unsupported", None),
    "plugin/share/updateTargets": ("unsupported", None),
    "plugin/share/checkout": ("unsupported", None),
    "plugin/share/delete": ("unsupported", None),
    "plugin/install": ("unsupported", None),
    "plugin/uninstall": ("unsupported", None),
    "account/gatewayOAuth/login": ("unsupported", None),
    "account/gatewayOAuth/cancel": ("unsupported", None),
    "windowsSandbox/setupStart": ("unsupported", None),
    "windowsSandbox/readiness": ("unsupported", None),
    "account/securitySetup/read": ("unsupported", None),
    "account/rateLimitResetCredit/consume": ("unsupported", None),
    "account/sendAddCreditsNudgeEmail": ("unsupported", None),
    "feedback/upload": ("unsupported", None),
}
"""Every client→server method this server answers (``initialize`` is the connection's):
its handler module under ``server.handlers`` and the handler's name there, or ``None`` for
the rows an area module brings in its own ``HANDLERS`` (the areas of :data:`AREAS`).

A handler module is imported when one of its methods is first called (``MethodTable``
resolves a registered method on first use), so a process start imports none of them.
``tests/server/test_lazy_method_table.py`` checks this index against the areas' ``HANDLERS``."""

AREAS = (
    "account", "config", "fs", "history", "mcp", "providers", "review", "skills",
    "thread_state", "unsupported",
)
"""Handler modules that bring their own ``HANDLERS`` rows."""

DETACHED = frozenset({"command/exec", "mcpServer/tool/call", "mcpServer/resource/read"})
"""Methods whose answer may take long (it comes when the process ends): the connection
serves its next requests meanwhile (``MethodTable.register(..., detached=True)``)."""


def _module(name: str) -> Any:
    full = f"{__name__}.{name}"
    module = sys.modules.get(full)
    if module is not None:
        return module
    # A first call imports the area (for thread/*: the thread web, hundreds of classes);
    # the collector would walk those long-lived objects again and again (as at start,
    # where it is off while modules load), so it pauses until they are frozen.
    release = pause_collector()
    try:
        return importlib.import_module(full)
    finally:
        release()


def handler_for(method: str) -> RuntimeHandler:
    """The handler of ``method`` (imports its module); ``KeyError`` for a method not served."""
    module_name, attr = HANDLER_INDEX[method]
    module = _module(module_name)
    handler: RuntimeHandler = getattr(module, attr) if attr else module.HANDLERS[method]
    return handler


def _all_handlers() -> dict[str, RuntimeHandler]:
    """Every row, in the index's order, then any an area brings that the index misses."""
    handlers = {method: handler_for(method) for method in HANDLER_INDEX}
    for area in AREAS:
        for method, handler in _module(area).HANDLERS.items():
            handlers.setdefault(method, handler)
    return handlers


def __getattr__(name: str) -> Any:
    if name == "HANDLERS":
        value = _all_handlers()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_handlers(
    table: MethodTable, runtime: Runtime, *, test_methods: bool | None = None
) -> None:
    """Register every method of :data:`HANDLER_INDEX`, bound to ``runtime``, in ``table``
    (each handler module imported on its first call); with ``test_methods`` (default:
    whether ``THREADLINE_TEST_SLOW_METHOD=1`` is set) the test-only methods too. A row an
    area brings that the index does not name is registered when the table first misses a
    method."""
    for method in HANDLER_INDEX:
        table.register_lazy(
            method, partial(_bound, method, runtime), detached=method in DETACHED
        )

    def register_missing() -> None:
        for area in AREAS:
            for method, handler in _module(area).HANDLERS.items():
                if method not in HANDLER_INDEX:
                    table.register(
                        method, partial(handler, runtime), detached=method in DETACHED
                    )

    table.complete_with(register_missing)
    if test_methods is None:  # the switch is read here: a start loads ``testing`` only to serve them
        test_methods = os.environ.get(TEST_METHODS_ENV) == "1"
    if test_methods:
        from threadline.server.handlers.testing import register_test_methods

        register_test_methods(table)


def _bound(method: str, runtime: Runtime) -> Callable[[RequestContext, Any], Awaitable[BaseModel]]:
    return partial(handler_for(method), runtime)
