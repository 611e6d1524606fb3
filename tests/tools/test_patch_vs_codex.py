"""Differential check against the real Codex 0.169 ``apply_patch`` on random patches.

Codex's binary runs as ``apply_patch`` when invoked under that name (its arg0
dispatch), so a symlink named ``apply_patch`` to it is the reference applier. Each
case makes a few small files (LF or CRLF, with or without a final newline, fuzzy
whitespace and typographic quotes) and a random patch over them (adds, deletes,
updates with context, moves, End-of-File chunks), applies it with both, and requires
the same outcome: both fail (and we changed nothing), or both succeed with identical
trees. One known, deliberate difference is excluded from the generator: a move onto
the file's own path (Codex deletes the file; we update it in place).

The binary is found through ``CODEX_REF_BIN`` or where ``/work/shared/tools/codex-ref``
installs it (``/var/tmp/codex-ref-0.169.0``); the test is skipped when neither exists
(it is never downloaded here).
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.support.codex_ref import codex_binary as _codex_binary

from threadline.tools.apply_patch import PatchError, apply_patch_text

CASES = 150
WORDS = ["alpha", "beta", "  gamma", "delta  ", "", "x = 1", "\u201cq\u201d", "tab\t", "beta"]


def _file(rng: random.Random) -> str:
    lines = [rng.choice(WORDS) for _ in range(rng.randint(0, 8))]
    eol = rng.choice(["\n", "\n", "\r\n"])
    text = eol.join(lines)
    return text + eol if lines and rng.random() < 0.8 else text


def _patch(rng: random.Random, files: dict[str, str]) -> str:
    out = ["*** Begin Patch"]
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["add", "del", "upd", "upd", "upd", "mv"])
        name = rng.choice([*files, "new.txt", "sub/n.txt"])
        if kind == "add":
            out.append(f"*** Add File: {name}")
            out += ["+" + rng.choice(WORDS) for _ in range(rng.randint(0, 3))]
            continue
        if kind == "del":
            out.append(f"*** Delete File: {name}")
            continue
        out.append(f"*** Update File: {name}")
        if kind == "mv":
            out.append(
                f"*** Move to: {rng.choice([n for n in ('moved.txt', 'a.txt', 'd/e.txt') if n != name])}"
            )
        source = files.get(name, "").replace("\r\n", "\n").split("\n")
        for c in range(rng.randint(1, 2)):
            if rng.random() < 0.3:
                out.append("@@ " + rng.choice(source + WORDS).strip(" "))
            elif c > 0 or rng.random() < 0.7:
                out.append("@@")
            start = rng.randint(0, max(0, len(source) - 1))
            for line in source[start : start + rng.randint(0, 3)]:
                text = line.strip() if rng.random() < 0.2 else line
                r = rng.random()
                out.append((" " if r < 0.4 else "-") + text if r < 0.8 else "+" + rng.choice(WORDS))
            if rng.random() < 0.5:
                out.append("+" + rng.choice(WORDS))
            if rng.random() < 0.15:
                out.append("*** End of File")
    out.append("*** End Patch")
    return "\n".join(out) + "\n"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_random_patches_match_codex(tmp_path: Path) -> None:
    binary = _codex_binary()
    if binary is None:
        pytest.skip("the Codex 0.169 reference binary is not installed")
    applier = tmp_path / "apply_patch"
    applier.symlink_to(binary)
    rng = random.Random(20261201)
    applied = 0
    for case in range(CASES):
        files = {f: _file(rng) for f in rng.sample(["a.txt", "b.txt", "c.txt"], rng.randint(1, 3))}
        patch = _patch(rng, files)
        trees = {}
        for side in ("codex", "ours"):
            root = tmp_path / side
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            for name, text in files.items():
                (root / name).write_bytes(text.encode())
            trees[side] = root
        codex = subprocess.run(
            [str(applier), patch], cwd=trees["codex"], capture_output=True, check=False, timeout=30
        )
        try:
            apply_patch_text(patch, trees["ours"])
            ours_ok = True
        except PatchError:
            ours_ok = False
        context = f"case {case}: {patch!r} on {files!r}"
        assert ours_ok == (codex.returncode == 0), f"{context}: {codex.stderr.decode()}"
        if ours_ok:
            applied += 1
            assert _tree(trees["ours"]) == _tree(trees["codex"]), context
        else:
            assert _tree(trees["ours"]) == {n: t.encode() for n, t in files.items()}, context
    assert applied >= CASES // 10
