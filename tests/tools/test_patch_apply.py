"""Planning and committing: all or nothing on real write failures, paths, modes, symlinks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.readonly import read_only_dir

from threadline.tools.apply_patch import (
    FileChange,
    PatchError,
    apply_patch_text,
    commit_changes,
    parse_patch,
    plan_patch,
    success_text,
)


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every entry under ``root``: files with bytes and mode, dirs, symlinks with target."""
    out: dict[str, tuple[str, bytes | str]] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", oct(p.stat().st_mode & 0o7777))
        else:
            out[rel] = (oct(p.stat().st_mode & 0o7777), p.read_bytes())
    return out


def populate(root: Path) -> None:
    (root / "keep.txt").write_bytes(b"keep\n")
    (root / "mod.txt").write_bytes(b"one\ntwo\nthree\n")
    (root / "mod.txt").chmod(0o755)
    (root / "gone.txt").write_bytes(b"bye\n")
    (root / "src").mkdir()
    (root / "src" / "mv.txt").write_bytes(b"move me\n")
    (root / "locked").mkdir()
    (root / "locked" / "last.txt").write_bytes(b"last\n")


BIG_PATCH = """*** Begin Patch
*** Update File: mod.txt
@@
 one
-two
+TWO
*** Delete File: gone.txt
*** Add File: new/deeper/added.txt
+fresh
*** Update File: src/mv.txt
*** Move to: dst/moved.txt
@@
-move me
+moved
*** Update File: locked/last.txt
@@
-last
+LAST
*** End Patch
"""


def test_a_write_failure_half_way_restores_every_file(tmp_path: Path) -> None:
    populate(tmp_path)
    before = snapshot(tmp_path)
    changes = plan_patch(parse_patch(BIG_PATCH), tmp_path)
    with read_only_dir(tmp_path / "locked"), pytest.raises(PatchError) as caught:
        commit_changes(changes)
    assert caught.value.stage == "commit"
    assert caught.value.path == str(tmp_path / "locked" / "last.txt")
    assert "Read-only file system" in str(caught.value) or "Permission denied" in str(caught.value)
    # The four earlier changes were written, then undone: no new dirs, no temp files.
    assert snapshot(tmp_path) == before
    # The same plan commits once the directory is writable again.
    commit_changes(changes)
    assert (tmp_path / "mod.txt").read_bytes() == b"one\nTWO\nthree\n"
    assert (tmp_path / "mod.txt").stat().st_mode & 0o777 == 0o755
    assert not (tmp_path / "gone.txt").exists()
    assert (tmp_path / "new/deeper/added.txt").read_bytes() == b"fresh\n"
    assert (tmp_path / "dst/moved.txt").read_bytes() == b"moved\n"
    assert not (tmp_path / "src/mv.txt").exists()
    assert (tmp_path / "locked/last.txt").read_bytes() == b"LAST\n"
    assert success_text(changes, tmp_path) == (
        "Success. Updated the following files:\nA new/deeper/added.txt\nM mod.txt\n"
        "M dst/moved.txt\nM locked/last.txt\nD gone.txt\n"
    )


def test_a_parent_that_is_a_file_fails_the_commit_and_rolls_back(tmp_path: Path) -> None:
    populate(tmp_path)
    (tmp_path / "blocker").write_bytes(b"i am a file\n")
    before = snapshot(tmp_path)
    patch = BIG_PATCH.replace(
        "*** End Patch", "*** Add File: blocker/inside.txt\n+x\n*** End Patch"
    )
    with pytest.raises(PatchError) as caught:
        apply_patch_text(patch, tmp_path)
    assert "Not a directory" in str(caught.value)
    assert snapshot(tmp_path) == before


def test_a_missing_hunk_late_in_the_patch_writes_nothing(tmp_path: Path) -> None:
    populate(tmp_path)
    before = snapshot(tmp_path)
    patch = BIG_PATCH.replace("-last\n+LAST", "-not in the file\n+LAST")
    with pytest.raises(PatchError) as caught:
        apply_patch_text(patch, tmp_path)
    assert caught.value.stage == "plan"
    assert caught.value.path == str(tmp_path / "locked" / "last.txt")
    assert caught.value.line == 16
    assert str(caught.value) == (
        f"Failed to find expected lines in {tmp_path / 'locked' / 'last.txt'} (patch line 16):\n"
        "not in the file"
    )
    assert snapshot(tmp_path) == before


def test_a_file_changed_after_planning_is_not_overwritten(tmp_path: Path) -> None:
    populate(tmp_path)
    changes = plan_patch(parse_patch(BIG_PATCH), tmp_path)
    (tmp_path / "locked" / "last.txt").write_bytes(b"someone else\n")
    before = snapshot(tmp_path)
    with pytest.raises(PatchError, match="changed on disk"):
        commit_changes(changes)
    assert snapshot(tmp_path) == before


def test_plan_reports_each_change_and_writes_nothing(tmp_path: Path) -> None:
    populate(tmp_path)
    before = snapshot(tmp_path)
    changes = plan_patch(parse_patch(BIG_PATCH), tmp_path)
    assert snapshot(tmp_path) == before
    assert [(c.kind, c.path, c.move_path) for c in changes] == [
        ("update", tmp_path / "mod.txt", None),
        ("delete", tmp_path / "gone.txt", None),
        ("add", tmp_path / "new/deeper/added.txt", None),
        ("update", tmp_path / "src/mv.txt", tmp_path / "dst/moved.txt"),
        ("update", tmp_path / "locked/last.txt", None),
    ]
    mod = changes[0]
    assert (mod.old_contents, mod.new_contents) == (b"one\ntwo\nthree\n", b"one\nTWO\nthree\n")
    assert mod.unified_diff == "@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
    assert changes[1].new_contents is None and changes[1].unified_diff == "bye\n"
    assert changes[2].old_contents is None and changes[2].unified_diff == "fresh\n"


def test_paths_are_absolute_normalised_and_resolve_parent_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "f.txt").write_bytes(b"a\n")
    (tmp_path / "alias").symlink_to(real)
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes(b"x\n")
    (real / "link.txt").symlink_to(outside)
    cwd = tmp_path / "alias"
    patch = (
        "*** Begin Patch\n*** Update File: ./sub/../f.txt\n@@\n-a\n+b\n"
        "*** Update File: link.txt\n@@\n-x\n+y\n"
        f"*** Add File: {tmp_path / 'abs.txt'}\n+abs\n*** End Patch"
    )
    changes = apply_patch_text(patch, cwd)
    # The update through a symlink lands on (and reports) the link's target, as
    # Codex's write-through does; the link itself stays a link.
    assert [c.path for c in changes] == [real / "f.txt", outside, tmp_path / "abs.txt"]
    assert (real / "f.txt").read_bytes() == b"b\n"
    assert outside.read_bytes() == b"y\n"
    assert (real / "link.txt").is_symlink()
    assert success_text(changes, cwd).splitlines()[1:] == [
        f"A {tmp_path / 'abs.txt'}",
        "M ./sub/../f.txt",
        "M link.txt",
    ]


def test_delete_of_a_symlink_removes_the_link_not_its_target(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_bytes(b"t\n")
    (tmp_path / "link.txt").symlink_to(target)
    [change] = apply_patch_text(
        "*** Begin Patch\n*** Delete File: link.txt\n*** End Patch", tmp_path
    )
    assert change.path == tmp_path / "link.txt"
    assert not (tmp_path / "link.txt").exists() and not (tmp_path / "link.txt").is_symlink()
    assert target.read_bytes() == b"t\n"


def test_non_utf8_file_is_refused_for_update(tmp_path: Path) -> None:
    (tmp_path / "bin.dat").write_bytes(b"\xff\xfe\n")
    with pytest.raises(PatchError, match="valid UTF-8"):
        apply_patch_text(
            "*** Begin Patch\n*** Update File: bin.dat\n@@\n-x\n+y\n*** End Patch", tmp_path
        )
    assert (tmp_path / "bin.dat").read_bytes() == b"\xff\xfe\n"


def test_a_hand_built_change_without_display_path_shows_relative_paths(tmp_path: Path) -> None:
    change = FileChange(tmp_path / "d" / "x.txt", "add", None, None, b"x\n", "x\n")
    assert success_text([change], tmp_path) == "Success. Updated the following files:\nA d/x.txt\n"


def test_entry_point_rolls_back_in_a_read_only_directory(tmp_path: Path) -> None:
    populate(tmp_path)
    before = snapshot(tmp_path)
    with read_only_dir(tmp_path / "locked"):
        proc = subprocess.run(
            [sys.executable, "-m", "threadline.tools.apply_patch", "--cwd", str(tmp_path)],
            input=BIG_PATCH.encode(),
            capture_output=True,
            check=False,
            timeout=30,
        )
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["ok"], result["stage"]) == (False, "commit")
    assert result["path"] == str(tmp_path / "locked" / "last.txt")
    assert snapshot(tmp_path) == before


def test_entry_point_imports_only_the_standard_library_and_this_package() -> None:
    code = (
        "import sys, threadline.tools.apply_patch.__main__\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('threadline', 'pydantic', 'openai', 'typer', 'rich', 'websockets', 'mcp'))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    loaded = proc.stdout.split()
    assert {"threadline", "threadline.tools", "threadline.tools.apply_patch"} <= set(loaded)
    assert all(
        m in ("threadline", "threadline.tools") or m.startswith("threadline.tools.apply_patch")
        for m in loaded
    ), loaded


def test_a_writable_file_in_a_read_only_directory_is_rewritten_in_place(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    target = locked / "f.txt"
    target.write_bytes(b"old\n")
    inode = target.stat().st_ino
    changes = plan_patch(
        parse_patch(
            "*** Begin Patch\n*** Update File: locked/f.txt\n@@\n-old\n+new\n*** End Patch"
        ),
        tmp_path,
    )
    # The directory is a read-only mount; the file is a writable bind mount on top of it.
    if os.geteuid() != 0:
        pytest.skip("needs mount(8): runs as root")
    subprocess.run(["mount", "--bind", str(locked), str(locked)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(locked)], check=True)
        subprocess.run(["mount", "--bind", str(target), str(target)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,rw", str(target)], check=True)
        try:
            commit_changes(changes)
            assert target.read_bytes() == b"new\n"
        finally:
            subprocess.run(["umount", str(target)], check=True)
    finally:
        subprocess.run(["umount", str(locked)], check=True)
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_ino == inode
