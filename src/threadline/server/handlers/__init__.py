"""Request handlers, one module per resource, and :data:`HANDLERS`: which one answers
which method.

The params and response types of every method are ``protocol.methods``'; a handler is
``async def <name>(rt: Runtime, ctx: RequestContext, params: <Params>) -> <Response>``,
registered bound to the runtime by :func:`register_handlers` (``server/build.py`` wires
the server and calls it once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from pydantic import BaseModel

from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.handlers import (
    account,
    command,
    compact,
    config,
    fs,
    history,
    mcp,
    model,
    providers,
    review,
    skills,
    thread,
    thread_meta,
    thread_state,
    turn,
    unsupported,
)
from threadline.server.handlers.common import Runtime
from threadline.server.handlers.testing import methods_enabled, register_test_methods

__all__ = ["DETACHED", "HANDLERS", "Runtime", "register_handlers"]

RuntimeHandler = Callable[[Runtime, RequestContext, Any], Awaitable[BaseModel]]

HANDLERS: dict[str, RuntimeHandler] = {
    "thread/start": thread.thread_start,
    "thread/resume": thread.thread_resume,
    "thread/fork": thread.thread_fork,
    "thread/unsubscribe": thread.thread_unsubscribe,
    "thread/inject_items": thread.thread_inject_items,
    "thread/loaded/list": thread.thread_loaded_list,
    "thread/rollback": thread.thread_rollback,
    "thread/memoryMode/set": thread.thread_memory_mode_set,
    "thread/increment_elicitation": thread.thread_increment_elicitation,
    "thread/decrement_elicitation": thread.thread_decrement_elicitation,
    "thread/compact/start": compact.thread_compact_start,
    "thread/list": thread_meta.thread_list,
    "thread/read": thread_meta.thread_read,
    "thread/name/set": thread_meta.thread_name_set,
    "thread/archive": thread_meta.thread_archive,
    "thread/unarchive": thread_meta.thread_unarchive,
    "turn/start": turn.turn_start,
    "turn/steer": turn.turn_steer,
    "turn/interrupt": turn.turn_interrupt,
    "model/list": model.model_list,
    "command/exec": command.command_exec,
    "command/exec/write": command.command_exec_write,
    "command/exec/terminate": command.command_exec_terminate,
    "command/exec/resize": command.command_exec_resize,
    "thread/shellCommand": command.thread_shell_command,
    "mcpServerStatus/list": mcp.mcp_server_status_list,
    "mcpServer/tool/call": mcp.mcp_tool_call,
    "mcpServer/resource/read": mcp.mcp_resource_read,
    "config/mcpServer/reload": mcp.config_mcp_server_reload,
}
"""Every client→server method this server answers (``initialize`` is the connection's)."""

# Areas with their own handler module bring their own rows.
for _area in (
    account, config, fs, history, mcp, providers, review, skills, thread_state, unsupported
):
    HANDLERS.update(_area.HANDLERS)

DETACHED = frozenset({"command/exec", "mcpServer/tool/call", "mcpServer/resource/read"})
"""Methods whose answer may take long (it comes when the process ends): the connection
serves its next requests meanwhile (``MethodTable.register(..., detached=True)``)."""


def register_handlers(
    table: MethodTable, runtime: Runtime, *, test_methods: bool | None = None
) -> None:
    """Register :data:`HANDLERS`, bound to ``runtime``, in ``table``; with ``test_methods``
    (default: whether ``THREADLINE_TEST_SLOW_METHOD=1`` is set) the test-only methods too."""
    for method, handler in HANDLERS.items():
        table.register(method, partial(handler, runtime), detached=method in DETACHED)
    if methods_enabled() if test_methods is None else test_methods:
        register_test_methods(table)
