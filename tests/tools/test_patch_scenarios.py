"""Codex's apply_patch scenario fixtures, run through our parser and applier.

``patch_scenarios/NNN_*`` are Codex 0.169's ``codex-rs/apply-patch/tests/fixtures/
scenarios`` (001-022) plus scenarios of ours (101-116, several found by a differential fuzz against the binary); every ``expected/`` tree and
``codex-0.169.0-results.json`` (exit code, stdout, stderr) were recorded by running the
real Codex 0.169 ``apply_patch`` on ``input/`` with ``patch.txt``.

Each scenario is applied to a copy of ``input/`` and the resulting tree is compared
byte for byte with ``expected/`` -- except where Codex fails half-way and leaves earlier
files changed (015): we are all-or-nothing, so there the tree must equal ``input/``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from threadline.tools.apply_patch import PatchError, apply_patch_text, parse_patch, success_text

SCENARIOS = Path(__file__).parent / "patch_scenarios"
CODEX = json.loads((SCENARIOS / "codex-0.169.0-results.json").read_text(encoding="utf-8"))
NAMES = sorted(CODEX)

# Codex leaves the earlier hunks' changes behind; we leave every file as it was.
PARTIAL_IN_CODEX = {"015_failure_after_partial_success_leaves_changes"}


def tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def workdir(name: str, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    source = SCENARIOS / name / "input"
    if source.exists():
        shutil.copytree(source, work)
    else:
        work.mkdir()
    return work


def patch_text(name: str) -> str:
    return (SCENARIOS / name / "patch.txt").read_bytes().decode("utf-8")


def test_every_fixture_dir_has_a_recorded_codex_result() -> None:
    dirs = sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())
    assert dirs == NAMES
    assert len([n for n in NAMES if n < "100"]) == 23  # Codex's own fixtures


@pytest.mark.parametrize("name", NAMES)
def test_scenario(name: str, tmp_path: Path) -> None:
    work = workdir(name, tmp_path)
    before = tree(work)
    codex = CODEX[name]
    try:
        changes = apply_patch_text(patch_text(name), work)
    except PatchError as err:
        assert codex["exit"] == 1, f"Codex applied {name}, we refused: {err}"
        assert tree(work) == before, "a failed patch must leave every file byte-identical"
        if name not in PARTIAL_IN_CODEX:
            assert tree(work) == tree(SCENARIOS / name / "expected")
        return
    assert codex["exit"] == 0, f"Codex refused {name}: {codex['stderr']}"
    assert tree(work) == tree(SCENARIOS / name / "expected")
    assert success_text(changes, work) == codex["stdout"]


def _codex_message(name: str) -> str:
    return CODEX[name]["stderr"].replace(f"<SCENARIOS>/{name}/expected", "{cwd}").rstrip("\n")


@pytest.mark.parametrize(
    "name",
    [
        "006_rejects_missing_context",
        "008_rejects_empty_update_hunk",
        "009_requires_existing_file_for_update",
        "013_rejects_invalid_hunk_header",
        "015_failure_after_partial_success_leaves_changes",
        "103_end_of_file_anchor_only_matches_the_end",
    ],
)
def test_failure_messages_carry_codex_wording_and_the_patch_line(name: str, tmp_path: Path) -> None:
    work = workdir(name, tmp_path)
    with pytest.raises(PatchError) as caught:
        apply_patch_text(patch_text(name), work)
    err = caught.value
    codex = _codex_message(name).replace("{cwd}", str(work))
    # Codex's standalone tool says "Invalid patch hunk on line N: msg"; its verification
    # step (what the model sees) says "invalid hunk at line N, msg": we use the latter.
    codex = codex.replace("Invalid patch hunk on line 2: ", "invalid hunk at line 2, ")
    head, _, tail = codex.partition(":\n")
    assert str(err).startswith(head.split(" (patch line")[0])
    if tail:
        assert str(err).endswith(":\n" + tail)
    assert err.line is not None and err.line >= 2
    assert err.for_model().startswith("apply_patch verification failed: ")


def test_missing_context_names_file_and_line(tmp_path: Path) -> None:
    work = workdir("006_rejects_missing_context", tmp_path)
    with pytest.raises(PatchError) as caught:
        apply_patch_text(patch_text("006_rejects_missing_context"), work)
    assert caught.value.path == str(work / "modify.txt")
    assert caught.value.line == 3
    assert "(patch line 3)" in str(caught.value)


def test_empty_patch_is_refused_as_codex_refuses_it(tmp_path: Path) -> None:
    work = workdir("005_rejects_empty_patch", tmp_path)
    assert parse_patch(patch_text("005_rejects_empty_patch")) == []
    with pytest.raises(PatchError) as caught:
        apply_patch_text(patch_text("005_rejects_empty_patch"), work)
    assert caught.value.stage == "empty"
    assert str(caught.value) == _codex_message("005_rejects_empty_patch")
    assert caught.value.for_model() == "patch rejected: empty patch"


def test_delete_of_a_directory_fails_and_keeps_it(tmp_path: Path) -> None:
    work = workdir("012_delete_directory_fails", tmp_path)
    with pytest.raises(PatchError) as caught:
        apply_patch_text(patch_text("012_delete_directory_fails"), work)
    assert "Is a directory" in str(caught.value)
    assert (work / "dir" / "foo.txt").read_bytes() == b"stable\n"


@pytest.mark.parametrize(
    "name", ["002_multiple_operations", "010_move_overwrites_existing_destination"]
)
def test_module_entry_point_applies_a_scenario(name: str, tmp_path: Path) -> None:
    work = workdir(name, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "threadline.tools.apply_patch", "--cwd", str(work)],
        input=(SCENARIOS / name / "patch.txt").read_bytes(),
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    assert result["output"] == CODEX[name]["stdout"]
    assert tree(work) == tree(SCENARIOS / name / "expected")


def test_module_entry_point_reports_a_failure_and_writes_nothing(tmp_path: Path) -> None:
    name = "015_failure_after_partial_success_leaves_changes"
    work = workdir(name, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "threadline.tools.apply_patch", "--cwd", str(work)],
        input=(SCENARIOS / name / "patch.txt").read_bytes(),
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["ok"] is False
    assert result["path"] == str(work / "missing.txt")
    assert result["line"] == 4
    assert result["stage"] == "plan"
    assert result["model_text"].startswith("apply_patch verification failed: Failed to read file")
    assert tree(work) == {}
