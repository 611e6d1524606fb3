"""``apply_patch``: the model edits files with a patch, approved and sandboxed per policy.

One call = one ``fileChange`` item whose id is the call's ``call_id``. The flow follows
Codex 0.169 (recorded against the real ``codex app-server``):

1. while a freeform call's input still streams, ``item/fileChange/patchUpdated`` shows
   the changes seen so far (at once for the first file, then at most every
   :data:`PATCH_UPDATE_INTERVAL_S`, and once more with the whole input; Codex sends
   these only behind a feature flag, threadline always);
2. the patch is parsed and planned against the files (nothing written). A patch that
   does not parse or apply is answered with ``apply_patch verification failed: ...``
   (the file and patch line named) and no item; a patch the policy refuses
   (:func:`~threadline.tools.patch_flow.assess_patch`) with the refusal and no item;
3. ``item/started`` (``inProgress``, absolute paths, Codex's per-file diffs); when the
   policy asks, ``item/fileChange/requestApproval``: ``accept``, ``acceptForSession``
   (later patches to the same files are not asked), ``decline`` (``item/completed``
   ``declined``, the model told ``patch rejected by user``) or ``cancel`` (the turn
   ends interrupted; Codex completes no item then);
4. the write: :func:`~threadline.tools.patch_flow.run_patch`, all or nothing, inside
   the sandbox unless the policy is ``danger-full-access`` or the user approved a
   patch the sandbox would refuse (``read-only``);
5. ``item/completed`` (``completed`` / ``failed``), then ``turn/diff/updated`` with the
   turn's whole git-style diff (each file against its content before the turn first
   touched it; paths from the git repository's root, else from the thread's cwd, as
   Codex names them). The model gets ``Exit code: 0`` / ``Wall time`` / ``Output:`` and
   Codex's ``Success. Updated the following files:`` list.

The same flow serves a model that runs ``apply_patch`` (or a heredoc of it) through
``exec_command``: :meth:`PatchApplier.intercept` is the shell tool's hook, and answers
with the shell tool's ``Wall time`` / ``Output:`` header around the patch's own answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from threadline.protocol import events as ev
from threadline.protocol.clock import now_ms
from threadline.protocol.lazy_module import lazy_module
from threadline.protocol.v2.item import FileChangeThreadItem
from threadline.protocol.v2.item_parts import FileUpdateChange
from threadline.sandbox.policy import SandboxPolicy
from threadline.tools.registry import ToolContext, ToolOutput

if TYPE_CHECKING:
    from threadline.tools import apply_patch, patch_flow
    from threadline.tools.apply_patch import FileChange, TurnDiffTracker
    from threadline.tools.patch_flow import PatchApprovals
else:  # the patch parser, planner and writer load with a thread's first patch or command
    apply_patch = lazy_module("threadline.tools.apply_patch")
    patch_flow = lazy_module("threadline.tools.patch_flow")

PatchToolKind = Literal["freeform", "function"]

PATCH_UPDATE_INTERVAL_S = 0.5
"""Least time between two ``patchUpdated`` notifications of one call (Codex's cadence)."""

PATCH_REJECTED_BY_USER = "patch rejected by user"
"""What the model is told about a declined patch (Codex's text)."""

_ACCEPTS = frozenset({"accept", "acceptForSession"})

FREEFORM_DESCRIPTION = (
    "Edit files by sending a patch in the apply_patch format. This is a freeform tool: "
    "send the patch text itself, never wrapped in JSON."
)

FUNCTION_DESCRIPTION = """\
Edit files with a patch. `input` holds the whole patch, in this file-oriented format:

*** Begin Patch
(one or more file sections)
*** End Patch

A file section starts with one of these headers:
*** Add File: <path>     - a new file (it replaces an existing one); every following
                           line is a "+" line of its content.
*** Delete File: <path>  - remove the file; nothing follows.
*** Update File: <path>  - change the file in place; "*** Move to: <new path>" may
                           follow right after to rename it.

An update is made of hunks. Each hunk starts with "@@", optionally followed by a line
(a class or function header) that locates it, then its lines: " " for context, "-" for
a removed line, "+" for an added line. Give about three lines of context before and
after each change, and add "@@" lines to narrow the place down when the context
repeats. "*** End of File" ends a hunk that must match the end of the file.

Example:
*** Begin Patch
*** Add File: notes.txt
+first line
*** Update File: src/app.py
*** Move to: src/main.py
@@ def greet():
-    print("Hi")
+    print("Hello")
*** Delete File: old.txt
*** End Patch

Use paths relative to the working directory. Every line of new content starts with
"+", also in an added file."""


def _secs(seconds: float) -> str:
    """Seconds as Codex prints a patch's wall time: one decimal, trailing zeros dropped."""
    text = f"{round(seconds, 1):.1f}".rstrip("0").rstrip(".")
    return text or "0"


def _exec_text(code: int, seconds: float, output: str) -> str:
    return f"Exit code: {code}\nWall time: {_secs(seconds)} seconds\nOutput:\n{output}"


@dataclass(frozen=True, slots=True)
class _Outcome:
    output: ToolOutput
    ran: bool
    """The patch runner ran (its answer has the ``Exit code`` header)."""


class PatchApplier:
    """One thread's patch machinery: planning, the policy decision, approvals remembered
    for the session, the sandboxed write, the items and the turn's diff. Shared by the
    ``apply_patch`` tool and the ``exec_command`` interception."""

    def __init__(
        self, *, writable_roots: tuple[str, ...] = (), network_access: bool = False
    ) -> None:
        self.writable_roots = tuple(writable_roots)
        self.network_access = network_access
        self._approved: PatchApprovals | None = None
        self._diff_turn: str | None = None
        self._diff: TurnDiffTracker | None = None

    @property
    def approved(self) -> PatchApprovals:
        """Files approved for the rest of the thread (made with the first patch)."""
        if self._approved is None:
            self._approved = patch_flow.PatchApprovals()
        return self._approved

    def sandbox_policy(self, mode: str) -> SandboxPolicy:
        return SandboxPolicy.from_mode(
            mode, writable_roots=self.writable_roots, network_access=self.network_access
        )

    # -- entry points --

    async def apply(self, ctx: ToolContext, patch: str, cwd: Path | None = None) -> ToolOutput:
        """Apply ``patch`` for the call in ``ctx`` (relative paths from ``cwd``, default
        the thread's); the model's answer."""
        return (await self._apply(ctx, patch, cwd or ctx.cwd)).output

    async def intercept(self, ctx: ToolContext, cmd: str, workdir: str | None) -> ToolOutput | None:
        """The ``exec_command`` hook: the answer when ``cmd`` is an ``apply_patch``
        invocation (applied as a patch), ``None`` to run it as an ordinary command."""
        found = apply_patch.extract_invocation(cmd)
        if found is None:
            return None
        patch, cd = found
        cwd = ctx.cwd / workdir if workdir else ctx.cwd
        if cd:
            cwd = cwd / cd
        cwd = Path(os.path.normpath(cwd))
        outcome = await self._apply(ctx, patch, cwd)
        if not outcome.ran:
            return outcome.output
        text = f"Wall time: 0.0000 seconds\nOutput:\n{outcome.output.text}"
        return ToolOutput(text, success=outcome.output.success)

    # -- the flow --

    async def _apply(self, ctx: ToolContext, patch: str, cwd: Path) -> _Outcome:
        started = time.monotonic()
        try:
            changes = await asyncio.to_thread(_plan, patch, cwd)
        except apply_patch.PatchError as err:
            return _Outcome(ToolOutput(err.for_model(), success=False), ran=False)
        policy = self.sandbox_policy(ctx.sandbox_mode)
        decision = patch_flow.assess_patch(ctx.approval_policy, policy, ctx.cwd, changes, self.approved)
        if decision.reject is not None:
            return _Outcome(ToolOutput(decision.reject, success=False), ran=False)
        item = FileChangeThreadItem(
            id=ctx.call_id,
            changes=patch_flow.item_changes(changes),
            status="inProgress",
            started_at_ms=now_ms(),
        )
        await _emit(
            ctx, ev.ItemStarted(turn_id=ctx.turn_id, item=item, started_at_ms=item.started_at_ms)
        )
        if decision.ask:
            answer = await self._ask(ctx, item)
            if answer == "cancel":
                waited = time.monotonic() - started
                text = f"aborted by user after {waited:.1f}s"
                return _Outcome(ToolOutput(text, success=False, abort_turn=True), ran=False)
            if answer not in _ACCEPTS:
                await _complete(ctx, item, "declined", stderr=PATCH_REJECTED_BY_USER)
                return _Outcome(ToolOutput(PATCH_REJECTED_BY_USER, success=False), ran=False)
            if answer == "acceptForSession":
                self.approved.remember(patch_flow.touched_paths(changes))
        began = time.monotonic()
        run = await patch_flow.run_patch(patch, cwd, policy=policy, root=ctx.cwd, sandboxed=decision.sandboxed)
        seconds = time.monotonic() - began
        if not run.ok:
            await _complete(ctx, item, "failed", stderr=run.output)
            text = _exec_text(
                1, seconds, run.output if run.output.endswith("\n") else run.output + "\n"
            )
            return _Outcome(ToolOutput(text, success=False), ran=True)
        await _complete(ctx, item, "completed", stdout=run.output)
        await self._track(ctx, changes)
        return _Outcome(ToolOutput(_exec_text(0, seconds, run.output)), ran=True)

    async def _ask(self, ctx: ToolContext, item: FileChangeThreadItem) -> str:
        """The user's decision (``decline`` when nobody can be asked)."""
        if ctx.ask_client is None:
            return "decline"
        request = ev.PatchApprovalRequest(
            approval_id=uuid.uuid4().hex,
            turn_id=ctx.turn_id,
            item_id=ctx.call_id,
            started_at_ms=item.started_at_ms,
            changes=[c.model_dump(mode="json", by_alias=True) for c in item.changes],
        )
        # Codex's order: item/started (already sent), the waiting flag, the request; the
        # item completes after the flag clears.
        answer = await ctx.ask_client(request, None, None)
        return answer if isinstance(answer, str) else "decline"

    async def _track(self, ctx: ToolContext, changes: list[FileChange]) -> None:
        if self._diff is None or self._diff_turn != ctx.turn_id:
            self._diff_turn = ctx.turn_id
            self._diff = apply_patch.TurnDiffTracker(display_root=diff_root(ctx.cwd))
        self._diff.track(changes)
        diff = self._diff.unified_diff()
        if diff is not None:
            await _emit(ctx, ev.TurnDiff(turn_id=ctx.turn_id, unified_diff=diff))


def diff_root(cwd: Path) -> Path:
    """What the turn diff's paths are relative to, as Codex shows them: the root of the
    git repository holding ``cwd``, else ``cwd`` itself (paths outside it stay absolute)."""
    start = Path(os.path.realpath(cwd))
    for candidate in (start, *start.parents):
        git = candidate / ".git"
        if git.is_file() or (git / "HEAD").is_file():  # a worktree's link, or a repository
            return candidate
    return start


def _plan(patch: str, cwd: Path) -> list[FileChange]:
    return apply_patch.plan_patch(apply_patch.parse_patch(patch), cwd)


async def _emit(ctx: ToolContext, msg: Any) -> None:
    if ctx.emit is not None:
        await ctx.emit(msg)


async def _complete(
    ctx: ToolContext, item: FileChangeThreadItem, status: str, *, stdout: str = "", stderr: str = ""
) -> None:
    done = ev.FileChangeOutcome(
        id=item.id,
        changes=item.changes,
        status=status,  # type: ignore[arg-type]
        started_at_ms=item.started_at_ms,
        completed_at_ms=now_ms(),
        stdout=stdout,
        stderr=stderr,
    )
    if ctx.complete_item is not None:
        await ctx.complete_item(done)
    else:
        await _emit(
            ctx,
            ev.ItemCompleted(turn_id=ctx.turn_id, item=done, completed_at_ms=done.completed_at_ms),
        )


# ---- the tool -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Stream:
    """What one streaming call has shown so far."""

    lines: str = ""
    sent: list[FileUpdateChange] | None = None
    pending: list[FileUpdateChange] | None = None
    sent_at: float | None = None


class ApplyPatchTool:
    """The ``apply_patch`` tool as the model's metadata offers it: a freeform custom tool
    with Codex's Lark grammar, or a JSON function taking ``{"input": patch}``."""

    name = "apply_patch"

    def __init__(self, applier: PatchApplier, kind: PatchToolKind = "freeform") -> None:
        self.applier = applier
        self.kind: PatchToolKind = kind
        self._streams: dict[str, _Stream] = {}

    def spec(self) -> dict[str, Any]:
        if self.kind == "freeform":
            return {
                "type": "custom",
                "name": self.name,
                "description": FREEFORM_DESCRIPTION,
                "format": {"type": "grammar", "syntax": "lark", "definition": apply_patch.lark_grammar()},
            }
        return {
            "type": "function",
            "name": self.name,
            "description": FUNCTION_DESCRIPTION,
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {
                    "input": {"type": "string", "description": "The whole patch, as text."}
                },
                "required": ["input"],
                "additionalProperties": False,
            },
        }

    async def input_progress(self, ctx: ToolContext, partial_input: str) -> None:
        """Show the changes of the lines received so far (``patchUpdated``), throttled."""
        state = self._streams.setdefault(ctx.call_id, _Stream())
        complete = partial_input[: partial_input.rfind("\n") + 1]
        if complete == state.lines:
            return
        state.lines = complete
        changes = _partial_changes(complete)
        if not changes or changes == state.sent:
            return
        state.pending = changes
        now = time.monotonic()
        if state.sent_at is None or now - state.sent_at >= PATCH_UPDATE_INTERVAL_S:
            await self._send(ctx, state, now)

    async def _send(self, ctx: ToolContext, state: _Stream, now: float) -> None:
        changes = state.pending
        if changes is None:
            return
        state.pending = None
        state.sent = changes
        state.sent_at = now
        await _emit(
            ctx, ev.PatchApplyUpdated(turn_id=ctx.turn_id, item_id=ctx.call_id, changes=changes)
        )

    async def _finish_stream(self, ctx: ToolContext, patch: str) -> None:
        """The last ``patchUpdated`` of a streamed call: the whole input's changes."""
        state = self._streams.pop(ctx.call_id, None)
        if state is None:
            return
        final = _partial_changes(patch if patch.endswith("\n") else patch + "\n")
        if final and final != state.sent:
            state.pending = final
            await self._send(ctx, state, time.monotonic())

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        if self.kind == "function":
            try:
                args = json.loads(arguments or "{}")
            except ValueError as exc:
                return ToolOutput(f"failed to parse function arguments: {exc}", success=False)
            patch = args.get("input") if isinstance(args, dict) else None
            if not isinstance(patch, str):
                return ToolOutput(
                    "failed to parse function arguments: missing field `input`", success=False
                )
        else:
            patch = arguments
            await self._finish_stream(ctx, patch)
        return await self.applier.apply(ctx, patch)

    async def aclose(self) -> None:
        self._streams.clear()


def _partial_changes(lines: str) -> list[FileUpdateChange]:
    try:
        return patch_flow.streaming_changes(apply_patch.parse_patch_streaming(lines))
    except apply_patch.PatchError:
        return []


__all__ = [
    "FREEFORM_DESCRIPTION",
    "FUNCTION_DESCRIPTION",
    "PATCH_REJECTED_BY_USER",
    "PATCH_UPDATE_INTERVAL_S",
    "ApplyPatchTool",
    "PatchApplier",
    "PatchToolKind",
    "diff_root",
]
