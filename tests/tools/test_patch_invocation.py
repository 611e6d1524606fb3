"""Recognising apply_patch run through the shell: Codex's invocation.rs cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.tools.apply_patch import AddFile, apply_patch_text, extract_invocation, parse_patch

PATCH = "*** Begin Patch\n*** Add File: foo\n+hi\n*** End Patch"


def heredoc(prefix: str = "", suffix: str = "", word: str = "'PATCH'") -> str:
    return f"{prefix}apply_patch <<{word}\n{PATCH}\nPATCH{suffix}"


def test_literal_argv_forms() -> None:
    assert extract_invocation(["apply_patch", PATCH + "\n"]) == (PATCH + "\n", None)
    assert extract_invocation(["applypatch", PATCH]) == (PATCH, None)
    assert extract_invocation(["apply_patch"]) is None
    assert extract_invocation(["cat", PATCH]) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["bash", "-lc", heredoc()],
        ["bash", "-c", heredoc()],
        ["/usr/bin/zsh", "-lc", heredoc()],
        ["sh", "-c", heredoc(word="EOF").replace("\nPATCH", "\nEOF")],
        ["bash", "-lc", heredoc(word='"PATCH"')],
        ["bash", "-lc", heredoc().replace("apply_patch", "applypatch")],
        ["powershell.exe", "-Command", heredoc()],
        ["powershell.exe", "-NoProfile", "-Command", heredoc()],
        ["pwsh", "-NoProfile", "-Command", heredoc()],
    ],
)
def test_heredoc_forms_match(argv: list[str]) -> None:
    found = extract_invocation(argv)
    assert found == (PATCH, None)
    assert parse_patch(found[0]) == [AddFile("foo", "hi\n")]


@pytest.mark.parametrize(
    ("prefix", "workdir"),
    [("cd foo && ", "foo"), ("cd 'foo bar' && ", "foo bar"), ('cd "foo bar" && ', "foo bar")],
)
def test_leading_cd_gives_the_workdir(prefix: str, workdir: str) -> None:
    assert extract_invocation(["bash", "-lc", heredoc(prefix)]) == (PATCH, workdir)
    assert extract_invocation(heredoc(prefix)) == (PATCH, workdir)
    assert extract_invocation(["cmd.exe", "/c", heredoc(prefix)]) == (PATCH, workdir)


@pytest.mark.parametrize(
    "script",
    [
        heredoc("cd foo; "),
        heredoc("cd bar || "),
        heredoc("cd bar | "),
        heredoc("echo foo && "),
        heredoc("cd foo && cd bar && "),
        heredoc("cd foo bar && "),
        heredoc("cd bar && ", " && echo done"),
        heredoc("echo foo; cd bar && "),
        "apply_patch foo <<'PATCH'\n*** Begin Patch\n*** Add File: foo\n+hi\n*** End Patch\nPATCH",
        "ls -la",
        "",
    ],
)
def test_other_scripts_are_ordinary_commands(script: str) -> None:
    assert extract_invocation(["bash", "-lc", script]) is None
    assert extract_invocation(script) is None


def test_quoted_single_argument_in_a_shell_string_is_ours() -> None:
    assert extract_invocation(f"apply_patch '{PATCH}'") == (PATCH, None)
    assert extract_invocation(["bash", "-lc", f'applypatch "{PATCH}"']) == (PATCH, None)
    assert extract_invocation("apply_patch 'not a patch'") is None


def test_unknown_shell_or_flag_is_not_an_invocation() -> None:
    assert extract_invocation(["fish", "-c", heredoc()]) is None
    assert extract_invocation(["bash", "-x", heredoc()]) is None


def test_extracted_heredoc_applies_in_the_cd_directory(tmp_path: Path) -> None:
    (tmp_path / "alt").mkdir()
    (tmp_path / "alt" / "old.txt").write_bytes(b"before\n")
    script = (
        "cd alt && apply_patch <<'PATCH'\n*** Begin Patch\n*** Update File: old.txt\n"
        "*** Move to: renamed.txt\n@@\n-before\n+after\n*** End Patch\nPATCH"
    )
    found = extract_invocation(["bash", "-lc", script])
    assert found is not None
    text, workdir = found
    assert workdir == "alt"
    changes = apply_patch_text(text, tmp_path / workdir)
    assert changes[0].move_path == tmp_path / "alt" / "renamed.txt"
    assert (tmp_path / "alt" / "renamed.txt").read_bytes() == b"after\n"
    assert not (tmp_path / "alt" / "old.txt").exists()
