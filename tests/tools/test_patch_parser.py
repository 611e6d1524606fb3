"""The patch parser: Codex's parser.rs cases, line numbers, heredocs, streaming, grammar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threadline.tools.apply_patch import (
    AddFile,
    DeleteFile,
    PatchError,
    UpdateChunk,
    UpdateFile,
    freeform_tool_spec,
    lark_grammar,
    parse_patch,
    parse_patch_streaming,
)

SCENARIOS = Path(__file__).parent / "patch_scenarios"


def err(text: str) -> PatchError:
    with pytest.raises(PatchError) as caught:
        parse_patch(text)
    return caught.value


def test_boundary_errors_in_codex_words() -> None:
    assert str(err("bad")) == "invalid patch: The first line of the patch must be '*** Begin Patch'"
    assert str(err("*** Begin Patch\nbad")) == (
        "invalid patch: The last line of the patch must be '*** End Patch'"
    )
    assert str(err("")).startswith("invalid patch: The first line")
    assert str(err("*** Begin Patch")).startswith("invalid patch: The last line")


def test_markers_padded_with_whitespace_are_accepted() -> None:
    assert parse_patch("*** Begin Patch \n*** Add File: foo\n+hi\n *** End Patch") == [
        AddFile("foo", "hi\n")
    ]
    assert parse_patch("\n\n  *** Begin Patch\n  *** Delete File: x\n*** End Patch\n\n") == [
        DeleteFile("x")
    ]


def test_all_hunk_kinds_and_their_lines() -> None:
    hunks = parse_patch(
        "*** Begin Patch\n*** Add File: path/add.py\n+abc\n+def\n*** Delete File: path/delete.py\n"
        "*** Update File: path/update.py\n*** Move to: path/update2.py\n@@ def f():\n-    pass\n"
        "+    return 123\n*** End Patch"
    )
    assert hunks == [
        AddFile("path/add.py", "abc\ndef\n"),
        DeleteFile("path/delete.py"),
        UpdateFile(
            "path/update.py",
            "path/update2.py",
            [UpdateChunk("def f():", ["    pass"], ["    return 123"], False)],
        ),
    ]
    assert [h.line for h in hunks] == [2, 5, 6]
    assert isinstance(hunks[2], UpdateFile)
    assert hunks[2].chunks[0].line == 8


def test_first_chunk_may_omit_the_context_marker() -> None:
    assert parse_patch(
        "*** Begin Patch\n*** Update File: file2.py\n import foo\n+bar\n*** End Patch"
    ) == [
        UpdateFile(
            "file2.py", None, [UpdateChunk(None, ["import foo"], ["import foo", "bar"], False)]
        )
    ]


def test_update_then_add_and_end_of_file_marker() -> None:
    hunks = parse_patch(
        "*** Begin Patch\n*** Update File: file.py\n@@\n+line\n*** End of File\n"
        "*** Add File: other.py\n+content\n*** End Patch"
    )
    assert hunks == [
        UpdateFile("file.py", None, [UpdateChunk(None, [], ["line"], True)]),
        AddFile("other.py", "content\n"),
    ]


def test_chunk_lines_blank_context_and_two_chunks() -> None:
    [hunk] = parse_patch(
        "*** Begin Patch\n*** Update File: f\n@@ change_context\n\n context\n-remove\n+add\n"
        " context2\n\n@@\n-x\n+y\n*** End Patch"
    )
    assert isinstance(hunk, UpdateFile)
    first, second = hunk.chunks
    assert first == UpdateChunk(
        "change_context",
        ["", "context", "remove", "context2", ""],
        ["", "context", "add", "context2", ""],
        False,
    )
    assert second == UpdateChunk(None, ["x"], ["y"], False)
    assert (first.line, second.line) == (3, 10)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "*** Update File: test.py",
            "invalid hunk at line 2, Update file hunk for path 'test.py' is empty",
        ),
        (
            "*** Frobnicate File: foo",
            "invalid hunk at line 2, '*** Frobnicate File: foo' is not a valid hunk header. Valid hunk "
            "headers: '*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'",
        ),
        (
            "*** Add File: a\n+a\n*** Update File: b\n@@\nbad",
            "invalid hunk at line 6, Unexpected line found in update hunk: 'bad'. Every line should "
            "start with ' ' (context line), '+' (added line), or '-' (removed line)",
        ),
        (
            "*** Update File: b\n@@\n-x\nbad",
            "invalid hunk at line 5, Expected update hunk to start with a @@ context marker, "
            "got: 'bad'",
        ),
        (
            "*** Update File: b\n@@\n*** End of File",
            "invalid hunk at line 4, Update hunk does not contain any lines",
        ),
    ],
)
def test_hunk_errors_name_the_patch_line(body: str, message: str) -> None:
    e = err(f"*** Begin Patch\n{body}\n*** End Patch")
    assert str(e) == message
    assert e.line == int(message.split("line ")[1].split(",")[0])
    assert e.for_model() == f"apply_patch verification failed: {message}"


def test_heredoc_wrapped_patch_is_unwrapped() -> None:
    inner = "*** Begin Patch\n*** Update File: file2.py\n import foo\n+bar\n*** End Patch"
    expected = parse_patch(inner)
    for opener in ("<<EOF", "<<'EOF'", '<<"EOF"'):
        assert parse_patch(f"{opener}\n{inner}\nEOF\n") == expected
    assert str(err(f"<<\"EOF'\n{inner}\nEOF\n")).startswith("invalid patch: The first line")
    assert str(err("<<EOF\n*** Begin Patch\n*** Update File: file2.py\nEOF\n")).startswith(
        "invalid patch: The last line"
    )


def test_crlf_patch_reads_like_lf() -> None:
    lf = "*** Begin Patch\n*** Update File: a\n@@\n-x\n+y\n*** End Patch\n"
    assert parse_patch(lf.replace("\n", "\r\n")) == parse_patch(lf)


def test_empty_patch_parses_to_no_hunks() -> None:
    assert parse_patch("*** Begin Patch\n*** End Patch") == []


def test_streaming_parse_grows_monotonically() -> None:
    patch = (
        "*** Begin Patch\n*** Add File: docs/notes.md\n+# Notes\n+\n+- one\n"
        "*** Update File: src/config.rs\n@@ impl Config\n-    pub a: bool,\n+    pub b: bool,\n"
        "@@ fn f()\n-    1\n+    2\n*** Delete File: src/old.rs\n"
        "*** Update File: main.rs\n*** Move to: bin/codex.rs\n@@ fn run()\n-    old()\n+    new()\n"
        "*** End Patch"
    )
    counts: list[int] = []
    for i in range(1, len(patch) + 1):
        try:
            n = len(parse_patch_streaming(patch[:i]))
        except PatchError:
            continue
        assert n >= (counts[-1] if counts else 0), patch[:i]
        if n > (counts[-1] if counts else 0):
            counts.append(n)
    assert counts == [1, 2, 3, 4]
    assert parse_patch_streaming(patch) == parse_patch(patch)
    assert parse_patch_streaming("*** Begin Patch\n*** Add File: a\n+hel") == [
        AddFile("a", "hel\n")
    ]
    with pytest.raises(PatchError):
        parse_patch("*** Begin Patch\n*** Delete File: gone.txt")
    assert parse_patch_streaming("*** Begin Patch\n*** Delete File: gone.txt") == [
        DeleteFile("gone.txt")
    ]


def test_grammar_is_codexs_freeform_definition() -> None:
    grammar = lark_grammar()
    assert grammar.startswith("start: begin_patch hunk+ end_patch\n")
    assert 'add_line: "+" /(.*)/ LF -> line' in grammar
    assert grammar.endswith("%import common.LF\n")


def canonical_patches() -> list[str]:
    """The scenario patches Codex applied that use no leniency (no padding, heredoc or CR)."""
    results = json.loads((SCENARIOS / "codex-0.169.0-results.json").read_text(encoding="utf-8"))
    out = []
    for name, result in sorted(results.items()):
        text = (SCENARIOS / name / "patch.txt").read_bytes().decode("utf-8")
        lines = text.rstrip("\n").split("\n")
        if (
            result["exit"] == 0
            and text.startswith("*** Begin Patch\n")
            and not any(ln != ln.strip() and ln.strip().startswith("***") for ln in lines)
            and "\r" not in text
        ):
            out.append(text)
    return out


def test_lark_grammar_accepts_every_canonical_scenario_patch() -> None:
    lark = pytest.importorskip("lark", reason="lark is not installed (not a dependency)")
    # Python's lark refuses zero-width terminals, which OpenAI's grammar engine accepts:
    # /(.*)/ is rewritten to the equivalent optional /(.+)/? for this check only.
    parser = lark.Lark(lark_grammar().replace("/(.*)/", "/(.+)/?"), start="start")
    patches = canonical_patches()
    assert len(patches) >= 15
    for text in patches:
        parser.parse(text)
    with pytest.raises(lark.exceptions.LarkError):
        parser.parse("*** Begin Patch\n*** End Patch\n")


def test_freeform_tool_spec_is_what_codex_sends() -> None:
    recorded = json.loads(
        (SCENARIOS / "codex-0.169.0-freeform-tool.json").read_text(encoding="utf-8")
    )
    assert freeform_tool_spec() == recorded
