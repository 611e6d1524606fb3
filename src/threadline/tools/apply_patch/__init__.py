"""apply_patch: Codex's patch format parsed, planned and written all or nothing.

A pure library (standard library only, so ``python -m threadline.tools.apply_patch``
can run inside the sandbox without the rest of threadline):

* :func:`parse_patch` — text → hunks (:mod:`.parser`);
* :func:`plan_patch` — hunks → :class:`FileChange` list, nothing written (:mod:`.apply`);
* :func:`commit_changes` — write a plan, all or nothing;
* :func:`apply_patch_text` — the three at once; :func:`success_text` — Codex's summary;
* :func:`extract_invocation` — ``apply_patch`` run through the shell (:mod:`.invocation`);
* :func:`unified_diff_for_turn` / :class:`TurnDiffTracker` — ``turn/diff/updated``'s
  git diff (:mod:`.diff`);
* ``grammar.lark`` — Codex's Lark grammar for the freeform tool (:func:`lark_grammar`).
"""

from __future__ import annotations

from pathlib import Path

from threadline.tools.apply_patch.apply import (
    FileChange,
    apply_patch_text,
    commit_changes,
    plan_patch,
    resolve_path,
    success_text,
)
from threadline.tools.apply_patch.diff import TurnDiffTracker, file_diff, unified_diff_for_turn
from threadline.tools.apply_patch.invocation import extract_invocation
from threadline.tools.apply_patch.parser import (
    AddFile,
    DeleteFile,
    Hunk,
    PatchError,
    UpdateChunk,
    UpdateFile,
    parse_patch,
    parse_patch_streaming,
)

__all__ = [
    "AddFile",
    "DeleteFile",
    "FREEFORM_TOOL_DESCRIPTION",
    "FileChange",
    "Hunk",
    "PatchError",
    "TurnDiffTracker",
    "UpdateChunk",
    "UpdateFile",
    "apply_patch_text",
    "commit_changes",
    "extract_invocation",
    "file_diff",
    "freeform_tool_spec",
    "lark_grammar",
    "parse_patch",
    "parse_patch_streaming",
    "plan_patch",
    "resolve_path",
    "success_text",
    "unified_diff_for_turn",
]


FREEFORM_TOOL_DESCRIPTION = (
    "The `apply_patch` tool can be used to edit files. This is a FREEFORM tool, "
    "so do not wrap the patch in JSON."
)
"""The ``description`` Codex 0.169 gives the freeform ``apply_patch`` custom tool."""


def freeform_tool_spec() -> dict[str, object]:
    """The Responses-API custom tool Codex 0.169 offers GPT-5-class models, verbatim."""
    return {
        "type": "custom",
        "name": "apply_patch",
        "description": FREEFORM_TOOL_DESCRIPTION,
        "format": {"type": "grammar", "syntax": "lark", "definition": lark_grammar()},
    }


def lark_grammar() -> str:
    """Codex 0.169's Lark grammar for the freeform ``apply_patch`` tool, verbatim."""
    return Path(__file__).with_name("grammar.lark").read_text(encoding="utf-8")
