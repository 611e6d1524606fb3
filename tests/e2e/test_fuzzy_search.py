"""``fuzzyFileSearch`` over the real stdio app-server: Codex 0.169's result shape
(snake_case members, ``match_type``, match ``indices``), its scores on the cases
recorded against the real binary, ``.gitignore`` respected, hidden files included,
roots outside the connection's refused, and a 100k-entry tree answered quickly.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import StartClient


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


async def test_results_scores_and_ignores_like_codex(
    start_client: StartClient, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / ".gitignore").write_text("build/\n*.log\n")
    touch(
        ws,
        "app",
        "lib/app/keep",
        "zz/apple.txt",
        "myapp.rs",
        "a_p_p.txt",
        "apps/x/y.txt",
        "build/app.o",
        "app.log",
        ".hidden/app.txt",
    )
    (ws / "sub").mkdir()
    os.symlink(ws / "lib", ws / "sub" / "linkdir")  # followed: inside the root
    os.symlink("/usr", ws / "sub" / "usr")  # not followed: outside
    os.symlink(ws, ws / "sub" / "loop")  # not followed: a loop
    client = await start_client(cwd=ws)
    got = await client.request("fuzzyFileSearch", {"query": "app", "roots": [str(ws)]})
    files = got["files"]
    by_path = {f["path"]: f for f in files}
    # Scores recorded from Codex 0.169 for the same tree.
    assert by_path["app"] == {
        "root": str(ws),
        "path": "app",
        "match_type": "file",
        "file_name": "app",
        "score": 196692,
        "indices": [0, 1, 2],
    }
    assert by_path["lib/app"]["match_type"] == "directory"
    assert by_path["lib/app"]["score"] == 131156
    assert by_path["zz/apple.txt"]["score"] == 65620
    assert by_path["a_p_p.txt"]["score"] == 65612 and by_path["a_p_p.txt"]["indices"] == [0, 2, 4]
    assert by_path["myapp.rs"]["score"] == 65592
    assert by_path["apps"]["score"] == 84
    assert ".hidden/app.txt" in by_path
    assert by_path["sub/linkdir/app"]["match_type"] == "directory"
    assert by_path["sub/linkdir/app"]["score"] == 84  # the second directory named "app"
    assert not any(p.startswith(("sub/usr/", "sub/loop/")) for p in by_path)
    assert not any(p.startswith("build") or p.endswith(".log") for p in by_path)
    scores = [f["score"] for f in files]
    assert scores == sorted(scores, reverse=True)
    got = await client.request("fuzzyFileSearch", {"query": "ap x", "roots": [str(ws)]})
    assert [(f["path"], f["score"]) for f in got["files"][:2]] == [
        ("apps/x", 93),
        ("apps/x/y.txt", 93),
    ]

    assert await client.request("fuzzyFileSearch", {"query": "", "roots": [str(ws)]}) == {
        "files": []
    }
    assert await client.request("fuzzyFileSearch", {"query": "app", "roots": []}) == {"files": []}
    assert await client.request(
        "fuzzyFileSearch", {"query": "app", "roots": [str(ws / "missing")]}
    ) == {"files": []}
    assert await client.request("fuzzyFileSearch", {"query": "app", "roots": ["rel"]}) == {
        "files": []
    }
    err = await client.request_error("fuzzyFileSearch", {"query": "passwd", "roots": ["/etc"]})
    assert err["code"] == -32600 and "outside the roots" in err["message"]


async def test_a_100k_entry_tree_is_searched_quickly(
    start_client: StartClient, tmp_path: Path
) -> None:
    ws = tmp_path / "big"
    for d in range(500):
        sub = ws / f"pkg{d % 25}" / f"mod{d}"
        sub.mkdir(parents=True)
        for f in range(200):
            os.close(os.open(sub / f"file{f}_{d}.py", os.O_CREAT | os.O_WRONLY, 0o644))
    (ws / "pkg3" / "mod3" / "needleHandler.rs").touch()
    client = await start_client(cwd=ws)
    t = time.perf_counter()
    got = await client.request(
        "fuzzyFileSearch", {"query": "needlehandler", "roots": [str(ws)]}, timeout=60
    )
    elapsed = time.perf_counter() - t
    assert got["files"][0]["path"] == os.path.join("pkg3", "mod3", "needleHandler.rs")
    assert elapsed < 10, elapsed


async def test_only_the_shallowest_directory_named_like_the_query_ranks_up(
    start_client: StartClient, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    for d in ["d1/app", "d1/d2/app", "e/d/c/app", "app", "g/h"]:
        (ws / d).mkdir(parents=True)
    touch(ws, "f1/d2/app", "g/h/app.txt", "g/app")
    client = await start_client(cwd=ws)
    got = await client.request("fuzzyFileSearch", {"query": "app", "roots": [str(ws)]})
    # As Codex 0.169 answered for this tree.
    assert [(f["score"], f["match_type"], f["path"]) for f in got["files"]] == [
        (196692, "file", "f1/d2/app"),
        (196692, "file", "g/app"),
        (131156, "directory", "app"),
        (65620, "file", "g/h/app.txt"),
        (84, "directory", "d1/app"),
        (84, "directory", "d1/d2/app"),
        (84, "directory", "e/d/c/app"),
    ]


async def test_nested_and_negated_ignore_rules(start_client: StartClient, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".gitignore").write_text("*.log\n!keep.log\n/rootonly.txt\n")
    (ws / "pkg").mkdir()
    (ws / "pkg" / ".gitignore").write_text("gen/\n")
    touch(
        ws,
        "a.log",
        "keep.log",
        "rootonly.txt",
        "pkg/rootonly.txt",
        "pkg/gen/x.txt",
        "pkg/src/gen.txt",
        "gen/y.txt",
    )
    client = await start_client(cwd=ws)

    async def paths(query: str) -> set[str]:
        got = await client.request("fuzzyFileSearch", {"query": query, "roots": [str(ws)]})
        return {f["path"] for f in got["files"]}

    assert await paths("log") >= {"keep.log"} and "a.log" not in await paths("log")
    assert await paths("rootonly") == {"pkg/rootonly.txt"}
    found = await paths("gen")
    assert "pkg/src/gen.txt" in found and "gen/y.txt" in found
    assert not any(p.startswith("pkg/gen") for p in found)
