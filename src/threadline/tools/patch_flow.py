"""What an ``apply_patch`` call may do, how its changes are shown, and how it is written.

Three pieces of the patch tool (:mod:`threadline.tools.patch_tool`), each without
knowledge of the turn:

* :func:`assess_patch` — Codex's patch safety check with threadline's one deviation:
  under ``workspace-write`` a patch that touches a path outside the writable roots is
  refused outright (Codex would ask under ``on-request``); inside them it applies,
  sandboxed, without asking. ``read-only`` asks (or refuses under ``never``) and an
  approved patch is written outside the sandbox; ``danger-full-access`` applies.
  ``untrusted`` asks before every patch that the session has not approved yet.
* :func:`item_changes` / :func:`streaming_changes` — the ``fileChange`` item's
  ``changes`` from a planned patch (absolute paths, Codex's per-file diffs, sorted by
  path), and the partial changes ``item/fileChange/patchUpdated`` carries while the
  patch streams (paths as written; an update shown as its chunks' ``-``/``+`` lines).
* :func:`run_patch` — the write itself: ``python -m threadline.tools.apply_patch`` with
  the patch on stdin, under bubblewrap with the thread's sandbox policy unless the
  decision says otherwise, so that whatever the patch names (``..``, a symlink swapped
  in after the check) the sandbox has the last word.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from threadline.protocol.v2.item_parts import (
    AddPatchChangeKind,
    DeletePatchChangeKind,
    FileUpdateChange,
    PatchChangeKind,
    UpdatePatchChangeKind,
)
from threadline.sandbox.bwrap import Launch, SandboxUnavailable, prepare_launch
from threadline.sandbox.policy import SandboxPolicy
from threadline.tools.apply_patch import (
    AddFile,
    DeleteFile,
    FileChange,
    Hunk,
    UpdateFile,
    file_diff,
)

RUN_TIMEOUT_S = 60.0
"""Longest a patch write may take (it reads and writes a few files)."""

REJECTED_OUTSIDE = (
    "patch rejected: writing outside of the project; rejected by user approval settings"
)
"""Codex's refusal when a patch cannot be written and nobody may be asked."""


# ---- the decision -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatchDecision:
    """``reject`` (text for the model; nothing announced), else whether to ask first and
    whether the write runs inside the sandbox."""

    sandboxed: bool
    ask: bool = False
    reject: str | None = None


@dataclass(slots=True)
class PatchApprovals:
    """Files the user approved patches to for the rest of the thread (``acceptForSession``,
    kept per path as Codex keys them)."""

    paths: set[Path] = field(default_factory=set)

    def covers(self, paths: Iterable[Path]) -> bool:
        wanted = list(paths)
        return bool(wanted) and all(p in self.paths for p in wanted)

    def remember(self, paths: Iterable[Path]) -> None:
        self.paths.update(paths)


def touched_paths(changes: Iterable[FileChange]) -> list[Path]:
    """Every path a planned patch writes or removes (a move's source and target)."""
    out: list[Path] = []
    for change in changes:
        for path in (change.path, change.move_path):
            if path is not None and path not in out:
                out.append(path)
    return out


def writable_roots(policy: SandboxPolicy, cwd: Path) -> list[Path]:
    """The directories a ``workspace-write`` sandbox lets a write land in, resolved:
    the thread's cwd, the configured roots (relative ones from the cwd) and ``/tmp``
    (the same set the bubblewrap layout binds read-write)."""
    base = Path(os.path.realpath(cwd))
    roots = [base]
    for raw in policy.writable_roots:
        candidate = Path(raw)
        roots.append(Path(os.path.realpath(candidate if candidate.is_absolute() else base / raw)))
    if policy.writable_tmp:
        roots.append(Path(os.path.realpath("/tmp")))
    return list(dict.fromkeys(roots))


def is_writable(path: Path, roots: list[Path]) -> bool:
    """``path`` is inside a root and not inside a root's ``.git`` (kept read-only)."""
    inside = any(path == root or root in path.parents for root in roots)
    in_git = any(path == root / ".git" or root / ".git" in path.parents for root in roots)
    return inside and not in_git


def assess_patch(
    approval_policy: str,
    policy: SandboxPolicy,
    cwd: Path,
    changes: list[FileChange],
    approved: PatchApprovals,
) -> PatchDecision:
    """What to do with a planned patch under the thread's policies (see the module doc)."""
    paths = touched_paths(changes)
    remembered = approved.covers(paths)
    ask_first = approval_policy == "untrusted" and not remembered
    if policy.mode == "danger-full-access":
        return PatchDecision(sandboxed=False, ask=ask_first)
    if policy.mode == "workspace-write":
        roots = writable_roots(policy, cwd)
        outside = [p for p in paths if not is_writable(p, roots)]
        if outside:
            shown = ", ".join(str(p) for p in outside)
            return PatchDecision(
                sandboxed=True,
                reject=(
                    f"patch rejected: writing outside of the project: {shown} is not inside "
                    "the sandbox's writable roots, so nothing was applied"
                ),
            )
        return PatchDecision(sandboxed=True, ask=ask_first)
    # read-only: nothing may be written unless the user says so (and then it is).
    if approval_policy == "never":
        return PatchDecision(sandboxed=True, reject=REJECTED_OUTSIDE)
    return PatchDecision(sandboxed=False, ask=not remembered)


# ---- what the item shows ------------------------------------------------------------------


def _kind(change: FileChange) -> PatchChangeKind:
    if change.kind == "add":
        return AddPatchChangeKind()
    if change.kind == "delete":
        return DeletePatchChangeKind()
    move = None if change.move_path is None else str(change.move_path)
    return UpdatePatchChangeKind(move_path=move)


def item_changes(changes: list[FileChange]) -> list[FileUpdateChange]:
    """The ``fileChange`` item's ``changes``: one entry per file, sorted by path.

    A file that several hunks of the patch touch shows its net change (from its content
    before the patch to its content after it), with the last hunk's kind.
    """
    by_path: dict[Path, list[FileChange]] = {}
    for change in changes:
        by_path.setdefault(change.path, []).append(change)
    out: list[FileUpdateChange] = []
    for path in sorted(by_path, key=str):
        group = by_path[path]
        last = group[-1]
        if len(group) == 1:
            diff = last.unified_diff
        else:
            net = FileChange(
                path,
                last.kind,
                last.move_path,
                group[0].old_contents,
                last.new_contents,
                "",
                last.display_path,
            )
            diff = file_diff(net)
        out.append(FileUpdateChange(path=str(path), kind=_kind(last), diff=diff))
    return out


def _chunk_lines(hunk: UpdateFile) -> str:
    parts: list[str] = []
    for chunk in hunk.chunks:
        parts.append("@@\n" if chunk.change_context is None else f"@@ {chunk.change_context}\n")
        parts.extend(f"-{line}\n" for line in chunk.old_lines)
        parts.extend(f"+{line}\n" for line in chunk.new_lines)
        if chunk.is_end_of_file:
            parts.append("*** End of File\n")
    return "".join(parts)


def streaming_changes(hunks: list[Hunk]) -> list[FileUpdateChange]:
    """The changes of a patch still streaming, as ``patchUpdated`` shows them (Codex's
    form: paths as the patch writes them, an add's content so far, a delete's empty
    diff, an update's chunks as removed and added lines), sorted by path."""
    by_path: dict[str, FileUpdateChange] = {}
    for hunk in hunks:
        kind: PatchChangeKind
        if isinstance(hunk, AddFile):
            kind, diff = AddPatchChangeKind(), hunk.contents
        elif isinstance(hunk, DeleteFile):
            kind, diff = DeletePatchChangeKind(), ""
        else:
            kind, diff = UpdatePatchChangeKind(move_path=hunk.move_path), _chunk_lines(hunk)
        by_path[hunk.path] = FileUpdateChange(path=hunk.path, kind=kind, diff=diff)
    return [by_path[p] for p in sorted(by_path)]


# ---- the write ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatchRun:
    """What the patch runner reported: success and Codex's summary, or the error."""

    ok: bool
    output: str
    """``Success. Updated the following files: ...`` or the error message."""
    sandbox: Literal["sandboxed", "unsandboxed"] = "sandboxed"


def _runner_env() -> dict[str, str]:
    source_root = str(Path(__file__).resolve().parents[2])  # the directory holding threadline/
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "PYTHONPATH": source_root,
        "PYTHONIOENCODING": "utf-8",
        "LANG": "C.UTF-8",
    }


def _read_report(stdout: bytes, stderr: bytes, code: int | None) -> PatchRun:
    lines = [ln for ln in stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if isinstance(report, dict) and report.get("ok") is True:
        return PatchRun(True, str(report.get("output", "")))
    if isinstance(report, dict) and isinstance(report.get("error"), str):
        return PatchRun(False, str(report.get("model_text") or report["error"]))
    detail = stderr.decode("utf-8", "replace").strip() or f"exit code {code}"
    return PatchRun(False, f"apply_patch failed to run: {detail}")


async def run_patch(
    patch: str,
    cwd: Path,
    *,
    policy: SandboxPolicy,
    root: Path,
    sandboxed: bool,
    timeout_s: float = RUN_TIMEOUT_S,
) -> PatchRun:
    """Write ``patch`` (relative paths from ``cwd``) with the patch runner; under
    bubblewrap with ``policy`` (writable roots from ``root``, the thread's cwd) when
    ``sandboxed``. A sandbox that cannot be built is a failed run, never a silent
    unsandboxed write."""
    # -P: nothing in the workspace (the runner's cwd) can shadow threadline's modules.
    argv = [sys.executable, "-P", "-m", "threadline.tools.apply_patch", "--cwd", str(cwd)]
    inside = sandboxed and policy.sandboxed
    try:
        launch = await prepare_launch(policy, root, argv, start_dir=cwd) if inside else Launch(argv)
    except SandboxUnavailable as exc:
        return PatchRun(False, f"apply_patch failed: {exc}")
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                cwd=cwd,
                env=_runner_env(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                pass_fds=launch.pass_fds,
            )
        finally:
            launch.close_fds()
        talk = asyncio.ensure_future(
            asyncio.wait_for(proc.communicate(patch.encode("utf-8", "surrogateescape")), timeout_s)
        )
        try:
            out, err = await asyncio.shield(talk)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return PatchRun(False, f"apply_patch timed out after {timeout_s:g} seconds")
        except asyncio.CancelledError:
            # The turn was interrupted mid-write: let the runner finish (it is short and
            # bounded) rather than kill it half-way through its all-or-nothing commit.
            await asyncio.wait({talk})
            if proc.returncode is None:  # it timed out meanwhile: it must not outlive the call
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            raise
    except OSError as exc:
        return PatchRun(False, f"apply_patch failed to start: {exc}")
    finally:
        await asyncio.shield(launch.finish())
    run = _read_report(out, err, proc.returncode)
    return PatchRun(run.ok, run.output, "sandboxed" if inside else "unsandboxed")


__all__ = [
    "REJECTED_OUTSIDE",
    "RUN_TIMEOUT_S",
    "PatchApprovals",
    "PatchDecision",
    "PatchRun",
    "assess_patch",
    "is_writable",
    "item_changes",
    "run_patch",
    "streaming_changes",
    "touched_paths",
    "writable_roots",
]
