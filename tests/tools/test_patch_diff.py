"""Per-file and whole-turn diffs, against what Codex 0.169's app-server sent.

``patch_scenarios/codex-0.169.0-app-server-diffs.json`` was recorded from the real
``codex app-server`` (mock model calling the freeform ``apply_patch`` tool, full access):
each case holds the input files, the patch, the ``fileChange`` item's ``changes``
(``<CWD>`` stands for the workspace), the last ``turn/diff/updated`` diff and the files
afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.tools.apply_patch import (
    TurnDiffTracker,
    commit_changes,
    parse_patch,
    plan_patch,
    unified_diff_for_turn,
)
from threadline.tools.apply_patch.diff import git_blob_oid, text_diff

CASES = json.loads(
    (Path(__file__).parent / "patch_scenarios" / "codex-0.169.0-app-server-diffs.json").read_text(
        encoding="utf-8"
    )
)


def _setup(case: dict[str, object], root: Path) -> None:
    files = case["input"]
    assert isinstance(files, dict)
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))


@pytest.mark.parametrize("index", range(len(CASES)))
def test_file_change_diffs_match_codex(index: int, tmp_path: Path) -> None:
    case = CASES[index]
    _setup(case, tmp_path)
    changes = plan_patch(parse_patch(case["patch"]), tmp_path)
    ours = [
        {
            "path": str(c.path),
            "kind": c.kind,
            "move_path": None if c.move_path is None else str(c.move_path),
            "diff": c.unified_diff,
        }
        for c in sorted(changes, key=lambda c: str(c.path))
    ]
    theirs = [
        {
            "path": ch["path"].replace("<CWD>", str(tmp_path)),
            "kind": ch["kind"]["type"],
            "move_path": None
            if ch["kind"].get("move_path") is None
            else ch["kind"]["move_path"].replace("<CWD>", str(tmp_path)),
            "diff": ch["diff"].replace("<CWD>", str(tmp_path)),
        }
        for ch in case["changes"]
    ]
    assert ours == theirs


@pytest.mark.parametrize("index", range(len(CASES)))
def test_turn_diff_matches_codex(index: int, tmp_path: Path) -> None:
    case = CASES[index]
    _setup(case, tmp_path)
    changes = plan_patch(parse_patch(case["patch"]), tmp_path)
    commit_changes(changes)
    tracker = TurnDiffTracker(display_root=tmp_path)
    tracker.track(changes)
    assert tracker.unified_diff() == case["turn_diff"]
    after = {
        p.relative_to(tmp_path).as_posix(): p.read_bytes().decode("utf-8")
        for p in tmp_path.rglob("*")
        if p.is_file()
    }
    assert after == case["output"]


def test_turn_diff_from_snapshots_renders_a_move_as_one_section(tmp_path: Path) -> None:
    case = CASES[0]
    _setup(case, tmp_path)
    touched = [tmp_path / rel for rel in ("del.txt", "mod.txt", "nonl.txt", "old/mv.txt")]
    touched += [tmp_path / "new/mv2.txt", tmp_path / "sub/new.txt"]
    before = {p: (p.read_bytes() if p.exists() else None) for p in touched}
    commit_changes(plan_patch(parse_patch(case["patch"]), tmp_path))
    after = {p: (p.read_bytes() if p.exists() else None) for p in touched}
    moves = {tmp_path / "new/mv2.txt": tmp_path / "old/mv.txt"}
    assert unified_diff_for_turn(before, after, tmp_path, moves=moves) == case["turn_diff"]
    without = unified_diff_for_turn(before, after, tmp_path)
    assert "diff --git a/new/mv2.txt b/new/mv2.txt\nnew file mode 100644\n" in without
    assert "diff --git a/old/mv.txt b/old/mv.txt\ndeleted file mode 100644\n" in without


def test_tracker_nets_out_several_patches_in_one_turn(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"one\n")
    tracker = TurnDiffTracker(display_root=tmp_path)
    for patch in (
        "*** Begin Patch\n*** Update File: a.txt\n@@\n-one\n+two\n*** End Patch",
        "*** Begin Patch\n*** Update File: a.txt\n*** Move to: b.txt\n@@\n-two\n+three\n*** End Patch",
        "*** Begin Patch\n*** Add File: c.txt\n+c\n*** End Patch",
        "*** Begin Patch\n*** Delete File: c.txt\n*** End Patch",
    ):
        changes = plan_patch(parse_patch(patch), tmp_path)
        commit_changes(changes)
        tracker.track(changes)
    one, three = git_blob_oid(b"one\n"), git_blob_oid(b"three\n")
    assert tracker.unified_diff() == (
        "diff --git a/a.txt b/b.txt\n"
        f"index {one}..{three}\n"
        "--- a/a.txt\n+++ b/b.txt\n@@ -1 +1 @@\n-one\n+three\n"
    )


def test_text_diff_marks_a_missing_final_newline_on_both_sides() -> None:
    assert text_diff("a\nb", "a\nc", context=1) == (
        "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
    )
    assert text_diff("same\n", "same\n", context=3) == ""


def test_git_blob_oid_is_gits() -> None:
    assert git_blob_oid(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git_blob_oid(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def _apply_unified(old: str, diff: str) -> str:
    """Apply a headerless unified diff (our own reader, strict about every line)."""
    src = old.split("\n")
    src_lines = [ln + "\n" for ln in src[:-1]] + ([src[-1]] if src[-1] else [])
    out: list[str] = []
    pos = 0
    lines = diff.split("\n")
    k = 0
    while k < len(lines) and lines[k]:
        header = lines[k]
        assert header.startswith("@@ -"), header
        old_range = header.split(" ")[1][1:]
        start = int(old_range.split(",")[0])
        count = int(old_range.split(",")[1]) if "," in old_range else 1
        first = start - 1 if count else start
        out.extend(src_lines[pos:first])
        pos = first
        k += 1
        while k < len(lines) and lines[k] and not lines[k].startswith("@@"):
            sign, body = lines[k][0], lines[k][1:]
            no_newline = k + 1 < len(lines) and lines[k + 1] == "\\ No newline at end of file"
            text = body if no_newline else body + "\n"
            if sign in " -":
                assert src_lines[pos] == text, (pos, src_lines[pos], text)
                pos += 1
            if sign in " +":
                out.append(text)
            k += 2 if no_newline else 1
    out.extend(src_lines[pos:])
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "c", "a", "", "x y"]), max_size=30),
    st.lists(
        st.tuples(
            st.integers(0, 30),
            st.integers(0, 3),
            st.lists(st.sampled_from(["a", "n", "c"]), max_size=3),
        )
    ),
    st.booleans(),
    st.booleans(),
)
def test_text_diff_round_trips(
    base: list[str], edits: list[tuple[int, int, list[str]]], old_nl: bool, new_nl: bool
) -> None:
    new_lines = list(base)
    for at, drop, insert in edits:
        at = min(at, len(new_lines))
        new_lines[at : at + drop] = insert
    old = "\n".join(base) + ("\n" if old_nl and base else "")
    new = "\n".join(new_lines) + ("\n" if new_nl and new_lines else "")
    for context in (0, 1, 3):
        diff = text_diff(old, new, context=context)
        assert (diff == "") == (old == new)
        assert _apply_unified(old, diff) == new
