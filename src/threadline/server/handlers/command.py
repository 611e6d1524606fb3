"""``command/exec`` (+ ``/write``, ``/terminate``, ``/resize``) and ``thread/shellCommand``.

The processes are core's (:mod:`threadline.core.command_exec`, owned per connection);
these handlers translate the wire params, stream ``command/exec/outputDelta`` to the
requesting connection only, and map core's refusals to the JSON-RPC codes Codex
answers with. ``command/exec`` is served detached (``handlers.DETACHED``): its answer
comes when the process ends while the connection keeps serving the ``write`` /
``resize`` / ``terminate`` calls for it; when the connection goes away the request is
cancelled and the process killed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager

from threadline.core.command_exec import CommandExecError, ExecOptions, Stream
from threadline.protocol import codes
from threadline.protocol.ops import RunUserShellCommand
from threadline.protocol.v2.misc import (
    CommandExecOutputDeltaNotification,
    CommandExecParams,
    CommandExecResizeParams,
    CommandExecResizeResponse,
    CommandExecResponse,
    CommandExecTerminateParams,
    CommandExecTerminateResponse,
    CommandExecWriteParams,
    CommandExecWriteResponse,
    ThreadShellCommandParams,
    ThreadShellCommandResponse,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime

__all__ = [
    "command_exec",
    "command_exec_resize",
    "command_exec_terminate",
    "command_exec_write",
    "thread_shell_command",
]

_CODES = {
    "invalid_request": codes.INVALID_REQUEST,
    "invalid_params": codes.INVALID_PARAMS,
    "internal": codes.INTERNAL_ERROR,
}


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except CommandExecError as exc:
        raise RpcError(_CODES[exc.kind], exc.message) from exc


def _options(p: CommandExecParams) -> ExecOptions:
    return ExecOptions(
        command=list(p.command),
        process_id=p.process_id,
        cwd=p.cwd,
        env=p.env,
        tty=bool(p.tty),
        stream_stdin=bool(p.stream_stdin),
        stream_stdout_stderr=bool(p.stream_stdout_stderr),
        size=(p.size.rows, p.size.cols) if p.size is not None else None,
        timeout_ms=p.timeout_ms,
        disable_timeout=bool(p.disable_timeout),
        output_bytes_cap=p.output_bytes_cap,
        disable_output_cap=bool(p.disable_output_cap),
        sandbox_policy=p.sandbox_policy,
    )


async def command_exec(
    rt: Runtime, ctx: RequestContext, p: CommandExecParams
) -> CommandExecResponse:
    def stream_out(process_id: str, stream: Stream, data: bytes, cap_reached: bool) -> None:
        ctx.send_notification(
            "command/exec/outputDelta",
            CommandExecOutputDeltaNotification(
                process_id=process_id,
                stream=stream,
                delta_base64=base64.b64encode(data).decode("ascii"),
                cap_reached=cap_reached,
            ),
        )

    with _translated():
        running = await rt.commands.start(
            ctx.connection_id, _options(p), rt.manager.config, stream_out
        )
        result = await running.result()
    return CommandExecResponse(
        exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr
    )


async def command_exec_write(
    rt: Runtime, ctx: RequestContext, p: CommandExecWriteParams
) -> CommandExecWriteResponse:
    data: bytes | None = None
    if p.delta_base64 is not None:
        try:
            data = base64.b64decode(p.delta_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RpcError(codes.INVALID_PARAMS, f"invalid deltaBase64: {exc}") from exc
    with _translated():
        await rt.commands.write(ctx.connection_id, p.process_id, data, bool(p.close_stdin))
    return CommandExecWriteResponse()


async def command_exec_terminate(
    rt: Runtime, ctx: RequestContext, p: CommandExecTerminateParams
) -> CommandExecTerminateResponse:
    with _translated():
        await rt.commands.terminate(ctx.connection_id, p.process_id)
    return CommandExecTerminateResponse()


async def command_exec_resize(
    rt: Runtime, ctx: RequestContext, p: CommandExecResizeParams
) -> CommandExecResizeResponse:
    with _translated():
        await rt.commands.resize(ctx.connection_id, p.process_id, p.size.rows, p.size.cols)
    return CommandExecResizeResponse()


async def thread_shell_command(
    rt: Runtime, ctx: RequestContext, p: ThreadShellCommandParams
) -> ThreadShellCommandResponse:
    if p.timeout_ms is not None and p.timeout_ms < 0:
        raise RpcError(
            codes.INVALID_PARAMS,
            f"thread/shellCommand timeoutMs must be non-negative, got {p.timeout_ms}",
        )
    thread = rt.manager.get(p.thread_id)
    rt.router.subscribe(ctx.connection_id, thread.id)
    thread.submit(RunUserShellCommand(command=p.command, timeout_ms=p.timeout_ms))
    return ThreadShellCommandResponse()
