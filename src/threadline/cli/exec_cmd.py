"""``threadline exec``: run one turn headless; ``exec resume``; ``fork``.

``threadline exec [OPTIONS] PROMPT`` starts a thread in the current directory
(or ``--cd``), runs one turn and streams it (see :mod:`threadline.cli.render`).
``threadline exec resume THREAD_ID PROMPT`` and ``threadline exec resume --last
PROMPT`` continue an earlier thread (``--last``: the newest of the working
directory, ``--all`` drops that filter, as in Codex); ``threadline fork THREAD_ID
[PROMPT]`` (also ``exec fork``) copies one into a new thread. exec's options may
be written before or after ``resume``/``fork`` (see :class:`_ExecGroup`).

Ctrl-C interrupts the running turn the way ``turn/interrupt`` does (the rollout
records the abort) and the command exits 130; a second Ctrl-C gives up waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from threadline.cli.client_asks import CLI_ASKS, answer_on_terminal, describe
from threadline.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    cli_config,
    err_console,
    fail,
    run_with_manager,
)
from threadline.cli.options import shared_options
from threadline.cli.render import HumanRenderer, JsonRenderer, Renderer, usage_delta
from threadline.core.config import Config
from threadline.core.manager import StartOptions, ThreadManager
from threadline.core.thread import Thread
from threadline.protocol import events as ev
from threadline.protocol.ops import ExecApproval, ResolveAsk, UserTurn
from threadline.protocol.v2.item import LocalImageUserInput, TextUserInput, UserInput

EXEC_SOURCE = "exec"
EXEC_ORIGINATOR = "threadline_exec"
_DEFAULT_SUBCOMMAND = "run"


class SandboxChoice(StrEnum):
    read_only = "read-only"
    workspace_write = "workspace-write"
    danger_full_access = "danger-full-access"


class ApprovalChoice(StrEnum):
    untrusted = "untrusted"
    on_failure = "on-failure"
    on_request = "on-request"
    never = "never"


class _ExecGroup(typer.core.TyperGroup):
    """``exec [OPTIONS] PROMPT`` runs the hidden default command, ``exec [OPTIONS] resume …``
    and ``exec [OPTIONS] fork …`` the sub-commands.

    Codex takes exec's options on either side of the sub-command's name
    (``exec --json resume ID PROMPT`` and ``exec resume --json ID PROMPT``). Options
    written before the name are handed to the sub-command, which accepts every option
    of ``exec`` itself, so both orders parse the same way.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._route(args))

    def _route(self, args: list[str]) -> list[str]:
        takes_value = self._options_with_values()
        i = 0
        while i < len(args):
            word = args[i]
            if word == "--":  # everything after is the prompt
                break
            if word.startswith("--"):
                i += 2 if "=" not in word and word in takes_value else 1
            elif word.startswith("-") and word != "-":
                i += 2 if word in takes_value else 1  # ``-mVALUE`` carries its value
            else:
                if word in self.commands and word != _DEFAULT_SUBCOMMAND:
                    return [word, *args[:i], *args[i + 1 :]]
                break
        return [_DEFAULT_SUBCOMMAND, *args]

    def _options_with_values(self) -> set[str]:
        names: set[str] = set()
        for command in self.commands.values():
            for param in command.params:
                if param.param_type_name != "option":
                    continue
                if getattr(param, "is_flag", False) or getattr(param, "count", False):
                    continue
                names.update(param.opts)
                names.update(param.secondary_opts)
        return names


# ---- shared options ---------------------------------------------------------------------

ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Model to use (default: the provider's).")
]
ProviderOpt = Annotated[
    str | None,
    typer.Option("--provider", help="Model provider id: openai, ollama, local, or one from config."),
]
SandboxOpt = Annotated[
    SandboxChoice | None, typer.Option("--sandbox", "-s", help="Sandbox for commands.")
]
ApprovalOpt = Annotated[
    ApprovalChoice | None,
    typer.Option("--ask-for-approval", "-a", help="When commands need your approval."),
]
CdOpt = Annotated[
    Path | None,
    typer.Option("--cd", "-C", help="Working directory for the thread (default: current)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON event per line.")]
ImageOpt = Annotated[
    list[Path] | None,
    typer.Option("--image", "-i", help="Attach an image file to the prompt (repeatable)."),
]
EphemeralOpt = Annotated[
    bool, typer.Option("--ephemeral", help="Do not save the thread to disk.")
]


@dataclass(frozen=True, slots=True)
class _RunOptions:
    model: str | None = None
    provider: str | None = None
    sandbox: str | None = None
    approval: str | None = None
    cwd: str | None = None
    json: bool = False
    images: tuple[Path, ...] = ()
    ephemeral: bool = False

    def start_options(self) -> StartOptions:
        return StartOptions(
            cwd=self.cwd,
            model=self.model,
            model_provider=self.provider,
            approval_policy=self.approval,
            sandbox_mode=self.sandbox,
            ephemeral=self.ephemeral,
            source=EXEC_SOURCE,
            originator=EXEC_ORIGINATOR,
        )


def _run_options(
    model: str | None,
    provider: str | None,
    sandbox: SandboxChoice | None,
    approval: ApprovalChoice | None,
    cd: Path | None,
    json_out: bool,
    images: list[Path] | None,
    ephemeral: bool = False,
) -> _RunOptions:
    cwd: str | None = None
    if cd is not None:
        target = cd.expanduser().resolve()
        if not target.is_dir():
            fail(f"--cd: {target} is not a directory", EXIT_USAGE)
        cwd = str(target)
    resolved: list[Path] = []
    for image in images or []:
        path = image.expanduser().resolve()
        if not path.is_file():
            fail(f"--image: {path} is not a file", EXIT_USAGE)
        resolved.append(path)
    return _RunOptions(
        model=model,
        provider=provider,
        sandbox=sandbox.value if sandbox is not None else None,
        approval=approval.value if approval is not None else None,
        cwd=cwd,
        json=json_out,
        images=tuple(resolved),
        ephemeral=ephemeral,
    )


def _read_prompt(prompt: str | None) -> str:
    """The prompt argument, or stdin when it is ``-`` or missing and stdin is piped."""
    if prompt is None or prompt == "-":
        if sys.stdin.isatty():
            fail("no prompt given (pass it as an argument, or pipe it on stdin)", EXIT_USAGE)
        prompt = sys.stdin.read()
    if not prompt.strip():
        fail("the prompt is empty", EXIT_USAGE)
    return prompt


def _user_items(prompt: str, images: tuple[Path, ...]) -> list[UserInput]:
    items: list[UserInput] = [TextUserInput(text=prompt)]
    items += [LocalImageUserInput(path=str(p)) for p in images]
    return items


def _notice(config: Config, opts: _RunOptions) -> None:
    if opts.provider is not None:
        return
    from threadline.core.providers import default_provider_notice

    line = default_provider_notice(config)
    if line:
        err_console().print(line, style="dim", soft_wrap=True, highlight=False, markup=False)


# ---- running a turn ---------------------------------------------------------------------


class Approvals:
    """Answers the thread's approval requests: ask on a terminal, otherwise decline."""

    def __init__(self, thread: Thread, renderer: Renderer) -> None:
        self._thread = thread
        self._renderer = renderer
        self._interactive = sys.stdin.isatty()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event.msg, ev.ExecApprovalRequest):
            task = asyncio.get_running_loop().create_task(self._answer(event.msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(event.msg, ev.PatchApprovalRequest):
            task = asyncio.get_running_loop().create_task(self._answer_patch(event.msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(event.msg, CLI_ASKS):
            task = asyncio.get_running_loop().create_task(self._answer_ask(event.msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer_ask(self, request: ev.ClientAsk) -> None:
        """A client-side tool's question: on a terminal the user answers, else none."""
        answer: Any = None
        if self._interactive and not isinstance(request, ev.DynamicToolCallRequest):
            async with self._lock:
                answer = await asyncio.to_thread(answer_on_terminal, request)
        else:
            self._renderer.note(f"threadline: {describe(request)}; nobody can answer here")
        with contextlib.suppress(Exception):
            self._thread.submit(ResolveAsk(approval_id=request.approval_id, answer=answer))

    async def _answer(self, request: ev.ExecApprovalRequest) -> None:
        if self._interactive:
            async with self._lock:  # one question at a time
                decision = await asyncio.to_thread(_ask, request)
            why = "answered on the terminal"
        else:
            decision = "decline"
            why = (
                "stdin is not a terminal, so nobody can approve it; "
                "use --ask-for-approval never to run commands without asking"
            )
            self._renderer.note(
                f"threadline: the agent asked to run `{request.command}`; declined because {why}"
            )
        self._renderer.approval(request, decision, why)
        with contextlib.suppress(Exception):
            self._thread.submit(ExecApproval(approval_id=request.approval_id, decision=decision))

    async def _answer_patch(self, request: ev.PatchApprovalRequest) -> None:
        if self._interactive:
            async with self._lock:  # one question at a time
                decision = await asyncio.to_thread(_ask_patch, request)
        else:
            decision = "decline"
            files = ", ".join(str(c.get("path", "?")) for c in request.changes) or "files"
            self._renderer.note(
                f"threadline: the agent asked to apply a patch to {files}; declined because "
                "stdin is not a terminal, so nobody can approve it; use --ask-for-approval "
                "never with a writable --sandbox to apply patches without asking"
            )
        with contextlib.suppress(Exception):
            self._thread.submit(ResolveAsk(approval_id=request.approval_id, answer=decision))

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()


_ANSWERS = {
    "y": "accept",
    "yes": "accept",
    "a": "acceptForSession",
    "always": "acceptForSession",
    "n": "decline",
    "no": "decline",
    "c": "cancel",
    "cancel": "cancel",
}


def _ask(request: ev.ExecApprovalRequest) -> str:
    console = err_console()
    console.print(f"\n[bold yellow]The agent wants to run:[/] [bold]{request.command}[/]")
    console.print(f"  in {request.cwd}" + (f" — {request.reason}" if request.reason else ""))
    return _read_decision("Allow? [y]es / [a]lways this session / [n]o / [c]ancel turn: ")


def _ask_patch(request: ev.PatchApprovalRequest) -> str:
    console = err_console()
    console.print("\n[bold yellow]The agent wants to apply a patch to:[/]")
    for change in request.changes:
        kind = change.get("kind") or {}
        move = kind.get("move_path")
        target = f" -> {move}" if move else ""
        console.print(f"  {kind.get('type', '?')} {change.get('path', '?')}{target}", markup=False)
    return _read_decision("Allow? [y]es / [a]lways for these files / [n]o / [c]ancel turn: ")


def _read_decision(prompt: str) -> str:
    """Ask ``prompt`` on the terminal until an answer is understood (five tries); a closed
    or unreadable stdin declines."""
    console = err_console()
    for _ in range(5):
        console.print(prompt, end="")
        try:
            line = sys.stdin.readline()
        except (OSError, ValueError):
            return "decline"
        if not line:
            return "decline"
        answer = _ANSWERS.get(line.strip().lower())
        if answer is not None:
            return answer
    return "decline"


async def run_turn(thread: Thread, items: list[UserInput], renderer: Renderer) -> int:
    """Run one turn of ``thread``, rendering its events; returns the process exit code."""
    loop = asyncio.get_running_loop()
    approvals = Approvals(thread, renderer)
    remove_render = thread.add_listener(renderer.on_event)
    remove_approvals = thread.add_listener(approvals.on_event)
    interrupts = 0
    pending: set[asyncio.Task[Any]] = set()

    def on_sigint() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            renderer.note("second Ctrl-C: leaving without waiting for the turn to stop")
            os._exit(EXIT_INTERRUPTED)
        renderer.note("interrupting the turn (Ctrl-C again to quit at once)…")
        if thread.active is not None:
            task = loop.create_task(_interrupt(thread))
            pending.add(task)
            task.add_done_callback(pending.discard)

    installed = _install_sigint(loop, on_sigint)
    before = thread.token_usage_info()
    try:
        thread.start_turn(UserTurn(items=items))
        if interrupts:
            await _interrupt(thread)
        turn = await thread.wait_turn()
        await thread.flush_rollout()
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
        approvals.cancel()
        remove_approvals()
        remove_render()
    if turn is None:  # the turn ended before we could wait for it
        turn = thread.turns[-1] if thread.turns else None
    if turn is None:
        renderer.close()
        return EXIT_FAILED
    after = thread.token_usage_info()
    renderer.finished(turn, usage_delta(before, after), after)
    renderer.close()
    if turn.status == "completed":
        return 0
    if turn.status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_FAILED


async def _interrupt(thread: Thread) -> None:
    with contextlib.suppress(Exception):
        await thread.interrupt()


def _install_sigint(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> bool:
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except (NotImplementedError, RuntimeError, ValueError):
        return False
    return True


def _renderer(json_out: bool) -> Renderer:
    return JsonRenderer() if json_out else HumanRenderer(err=err_console())


async def _run_on(thread: Thread, prompt: str, opts: _RunOptions) -> int:
    renderer = _renderer(opts.json)
    s = thread.settings
    renderer.thread_started(thread.id, s.model, s.model_provider, s.cwd)
    return await run_turn(thread, _user_items(prompt, opts.images), renderer)


def _finish(code: int) -> None:
    if code:
        raise typer.Exit(code)


# ---- commands ---------------------------------------------------------------------------


def exec_run(
    ctx: typer.Context,
    prompt: Annotated[
        str | None, typer.Argument(help="What to ask. '-' or nothing reads it from stdin.")
    ] = None,
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    sandbox: SandboxOpt = None,
    ask_for_approval: ApprovalOpt = None,
    cd: CdOpt = None,
    json_out: JsonOpt = False,
    image: ImageOpt = None,
    ephemeral: EphemeralOpt = False,
) -> None:
    """Start a thread, run one turn and print it. Also: `exec resume ID|--last PROMPT`."""
    config = cli_config(ctx)
    opts = _run_options(model, provider, sandbox, ask_for_approval, cd, json_out, image, ephemeral)
    text = _read_prompt(prompt)
    _notice(config, opts)

    async def body(manager: ThreadManager) -> int:
        thread = manager.start_thread(opts.start_options())
        return await _run_on(thread, text, opts)

    _finish(run_with_manager(config, body))


def exec_resume(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[THREAD_ID] [PROMPT]",
            help="Thread id (unless --last), then the prompt ('-' or nothing reads it from stdin).",
        ),
    ] = None,
    last: Annotated[
        bool,
        typer.Option(
            "--last",
            help="Resume the most recently updated thread of the working directory "
            "(--cd, else the current one).",
        ),
    ] = False,
    all_dirs: Annotated[
        bool, typer.Option("--all", help="With --last: consider the threads of every directory.")
    ] = False,
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    sandbox: SandboxOpt = None,
    ask_for_approval: ApprovalOpt = None,
    cd: CdOpt = None,
    json_out: JsonOpt = False,
    image: ImageOpt = None,
    ephemeral: EphemeralOpt = False,
) -> None:
    """Continue an earlier thread with one more turn (options go before or after 'resume')."""
    config = cli_config(ctx)
    if ephemeral:
        fail(
            "--ephemeral cannot be used with resume: the resumed thread's turn is "
            "appended to its saved rollout",
            EXIT_USAGE,
        )
    opts = _run_options(model, provider, sandbox, ask_for_approval, cd, json_out, image)
    words = list(args or [])
    if last:
        if len(words) > 1:
            fail("with --last, give only the prompt (quote it)", EXIT_USAGE)
        thread_id: str | None = None
        prompt = words[0] if words else None
    else:
        if not words:
            fail("give a THREAD_ID (or --last) and a prompt", EXIT_USAGE)
        if len(words) > 2:
            fail("expected THREAD_ID PROMPT (quote the prompt)", EXIT_USAGE)
        thread_id = words[0]
        prompt = words[1] if len(words) > 1 else None
    text = _read_prompt(prompt)
    where = None if all_dirs else str(Path(opts.cwd or os.getcwd()).resolve())

    async def body(manager: ThreadManager) -> int:
        target = thread_id
        if target is None:
            target = await manager.latest_thread_id(cwd=where)
            if target is None:
                if where is None:
                    fail("there is no thread to resume yet", EXIT_FAILED)
                fail(
                    f"there is no thread to resume in {where} (--all considers every directory)",
                    EXIT_FAILED,
                )
        overrides = replace(opts.start_options(), source=EXEC_SOURCE)
        thread = await manager.resume_thread(target, overrides=overrides)
        return await _run_on(thread, text, opts)

    _finish(run_with_manager(config, body))


def fork(
    ctx: typer.Context,
    thread_id: Annotated[str, typer.Argument(help="The thread to copy.")],
    prompt: Annotated[
        str | None,
        typer.Argument(help="Optionally run one turn in the new thread ('-' reads it from stdin)."),
    ] = None,
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    sandbox: SandboxOpt = None,
    ask_for_approval: ApprovalOpt = None,
    cd: CdOpt = None,
    json_out: JsonOpt = False,
    image: ImageOpt = None,
    ephemeral: EphemeralOpt = False,
) -> None:
    """Copy a thread's history into a new thread (and optionally run a turn there)."""
    config = cli_config(ctx)
    opts = _run_options(model, provider, sandbox, ask_for_approval, cd, json_out, image, ephemeral)
    if prompt is None and opts.images:
        fail("--image needs a prompt to attach the images to", EXIT_USAGE)
    text = _read_prompt(prompt) if prompt is not None else None

    async def body(manager: ThreadManager) -> int:
        thread = await manager.fork_thread(
            thread_id, overrides=opts.start_options(), ephemeral=opts.ephemeral
        )
        if text is not None:
            return await _run_on(thread, text, opts)
        if not opts.ephemeral:
            await thread.ensure_rollout_materialized()
            await thread.flush_rollout()
        if opts.json:
            import json

            print(json.dumps({"type": "thread.forked", "thread_id": thread.id, "forked_from_id": thread_id}))
        else:
            print(thread.id)
            err_console().print(
                f"forked {thread_id} → {thread.id}; continue it with: "
                f'threadline exec resume {thread.id} "…"',
                style="dim",
                markup=False,
                soft_wrap=True,
            )
        return 0

    _finish(run_with_manager(config, body))


def register(cli: typer.Typer) -> None:
    group = typer.Typer(
        cls=_ExecGroup,
        help="Run one agent turn headless: `exec PROMPT`, `exec resume ID|--last PROMPT` "
        "or `exec fork ID [PROMPT]`.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    group.command(_DEFAULT_SUBCOMMAND, hidden=True)(shared_options(exec_run))
    group.command("resume")(shared_options(exec_resume))
    group.command("fork")(shared_options(fork))
    cli.add_typer(group, name="exec")
    cli.command("fork")(shared_options(fork))
