"""``apply_patch`` over the real stdio app-server: the files on disk, the items, the turn diff.

The mock model sends the patch as a freeform ``custom_tool_call`` (``gpt-5.5`` is offered
the freeform tool), as a JSON function call (``apply_patch_tool_type = "function"``) or
through ``exec_command``; the patch really is written, by the patch runner under real
bubblewrap. Expected texts and diffs are what the real ``codex app-server`` 0.169 sent for
the same files and patch (recorded against this mock model).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import StartClient, write_mock_config
from tests.e2e.test_turns import collect_turn, of, start_turn
from tests.support.appserver import AppServerClient
from tests.support.mock_model import (
    MockModel,
    RecordedRequest,
    custom_tool_call,
    function_call,
    text,
)
from tests.support.stores import StoreUnderTest, both_stores

from threadline.tools.apply_patch import lark_grammar

MODEL = "gpt-5.5"
"""A model Codex 0.169 offers the freeform apply_patch tool."""

MIXED_PATCH = """*** Begin Patch
*** Add File: new.txt
+hello
+world
*** Update File: a.txt
@@
 one
-two
+TWO
 three
*** Delete File: gone.txt
*** Update File: m.txt
*** Move to: moved/m2.txt
@@
-x
+y
*** End Patch"""

MIXED_FILES = {"a.txt": "one\ntwo\nthree\n", "gone.txt": "bye\n", "m.txt": "x\n"}

CODEX_MIXED_DIFF = (
    "diff --git a/a.txt b/a.txt\n"
    "index 4cb29ea38f70d7c61b2a3a25b02e3bdf44905402..ddc897f039f57aa91e16efa6dfde386c4255206f\n"
    "--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
    "diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n"
    "index b023018cabc396e7692c70bbf5784a93d3f738ab..0000000000000000000000000000000000000000\n"
    "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    "diff --git a/m.txt b/moved/m2.txt\n"
    "index 587be6b4c3f93f93c489c0111bba5596147a26cb..975fbec8256d3e8a3797e7a3611380f27c49f4ac\n"
    "--- a/m.txt\n+++ b/moved/m2.txt\n@@ -1 +1 @@\n-x\n+y\n"
    "diff --git a/new.txt b/new.txt\nnew file mode 100644\n"
    "index 0000000000000000000000000000000000000000..94954abda49de8615a048f8d2e64b5de848e27a1\n"
    "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+hello\n+world\n"
)
"""``turn/diff/updated`` as Codex 0.169 sent it for MIXED_PATCH on MIXED_FILES."""

_WALL = re.compile(r"Wall time: [0-9.]+ seconds")


# ---- helpers ------------------------------------------------------------------------------


async def start_thread(
    client: AppServerClient,
    cwd: Path,
    *,
    approval: str = "never",
    sandbox: str = "workspace-write",
    model: str | None = MODEL,
) -> str:
    params: dict[str, Any] = {"cwd": str(cwd), "approvalPolicy": approval, "sandbox": sandbox}
    if model is not None:
        params["model"] = model
    result = await client.request("thread/start", params)
    await client.wait_for_notification("thread/started")
    thread_id: str = result["thread"]["id"]
    return thread_id


def populate(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode())


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def tool_outputs(request: RecordedRequest) -> dict[str, str]:
    """``call_id`` → the output text of every tool call in what the model was sent."""
    return {
        i["call_id"]: i["output"]
        for i in request.body["input"]
        if i.get("type") in ("function_call_output", "custom_tool_call_output")
    }


def file_items(messages: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [p["item"] for p in of(messages, method) if p["item"]["type"] == "fileChange"]


def order(messages: list[dict[str, Any]]) -> list[str]:
    """Method names (file-change items tagged, requests marked ``?``) without usage,
    deltas and rate limits."""
    out: list[str] = []
    for m in messages:
        name = m.get("method", "<answer>")
        if name in ("thread/tokenUsage/updated", "account/rateLimits/updated", "warning"):
            continue
        if name.endswith("/delta") or name == "<answer>":
            continue
        if name in ("item/started", "item/completed"):
            name += ":" + m["params"]["item"]["type"]
        if name == "thread/status/changed":
            status = m["params"]["status"]
            name += ":" + ",".join(status.get("activeFlags") or [status["type"]])
        out.append(name + ("?" if "id" in m else ""))
    return out


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside every writable root (not under the workspace nor ``/tmp``)."""
    path = Path(tempfile.mkdtemp(prefix="threadline-patch-outside-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- add / update / delete / move ----------------------------------------------------------


async def test_a_patch_adds_updates_deletes_and_moves_files(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    populate(workspace, MIXED_FILES)
    mock_model.enqueue(
        custom_tool_call("apply_patch", MIXED_PATCH, chunks=8, call_id="call_mixed"),
        text("Patched."),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "edit the files")
    messages = await collect_turn(client, turn_id)

    assert snapshot(workspace) == {
        "a.txt": b"one\nTWO\nthree\n",
        "moved/m2.txt": b"y\n",
        "new.txt": b"hello\nworld\n",
    }
    ws = str(workspace)
    expected_changes = [
        {
            "path": f"{ws}/a.txt",
            "kind": {"type": "update", "move_path": None},
            "diff": "@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n",
        },
        {"path": f"{ws}/gone.txt", "kind": {"type": "delete"}, "diff": "bye\n"},
        {
            "path": f"{ws}/m.txt",
            "kind": {"type": "update", "move_path": f"{ws}/moved/m2.txt"},
            "diff": f"@@ -1 +1 @@\n-x\n+y\n\n\nMoved to: {ws}/moved/m2.txt",
        },
        {"path": f"{ws}/new.txt", "kind": {"type": "add"}, "diff": "hello\nworld\n"},
    ]
    [started] = file_items(messages, "item/started")
    [done] = file_items(messages, "item/completed")
    assert started["id"] == done["id"] == "call_mixed"
    assert started["status"] == "inProgress" and done["status"] == "completed"
    assert started["changes"] == done["changes"] == expected_changes

    [diff] = of(messages, "turn/diff/updated")
    assert diff == {"threadId": thread_id, "turnId": turn_id, "diff": CODEX_MIXED_DIFF}

    # While the patch streamed, patchUpdated showed the changes as written so far; the
    # last one is the whole patch, in Codex's streaming form.
    updates = of(messages, "item/fileChange/patchUpdated")
    assert updates and all(u["itemId"] == "call_mixed" for u in updates)
    assert updates[-1]["changes"] == [
        {
            "path": "a.txt",
            "kind": {"type": "update", "move_path": None},
            "diff": ("@@\n-one\n-two\n-three\n+one\n+TWO\n+three\n"),
        },
        {"path": "gone.txt", "kind": {"type": "delete"}, "diff": ""},
        {
            "path": "m.txt",
            "kind": {"type": "update", "move_path": "moved/m2.txt"},
            "diff": ("@@\n-x\n+y\n"),
        },
        {"path": "new.txt", "kind": {"type": "add"}, "diff": "hello\nworld\n"},
    ]

    # Codex's order, except that Codex repeats the same turn/diff/updated once after
    # the model response that made the call and once after the turn's last response.
    assert order(messages) == [
        "thread/status/changed:active",
        "turn/started",
        "item/started:userMessage",
        "item/completed:userMessage",
        *["item/fileChange/patchUpdated"] * len(updates),
        "item/started:fileChange",
        "item/completed:fileChange",
        "turn/diff/updated",
        "item/started:agentMessage",
        "item/completed:agentMessage",
        "thread/status/changed:idle",
        "turn/completed",
    ]

    second = mock_model.requests[1]
    output = tool_outputs(second)["call_mixed"]
    assert _WALL.sub("Wall time: T seconds", output) == (
        "Exit code: 0\nWall time: T seconds\nOutput:\n"
        "Success. Updated the following files:\nA new.txt\nM a.txt\nM moved/m2.txt\nD gone.txt\n"
    )


async def test_the_turn_diff_keeps_each_files_first_content(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    """Two patches in one turn: the diff is against the content before the first one."""
    populate(workspace, {"a.txt": "one\ntwo\nthree\n"})
    first = "*** Begin Patch\n*** Update File: a.txt\n@@\n-one\n+ONE\n*** End Patch"
    second = "*** Begin Patch\n*** Update File: a.txt\n@@\n-three\n+THREE\n*** End Patch"
    mock_model.enqueue(
        custom_tool_call("apply_patch", first, call_id="call_1"),
        custom_tool_call("apply_patch", second, call_id="call_2"),
        text("Both done."),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "edit twice")
    messages = await collect_turn(client, turn_id)

    assert (workspace / "a.txt").read_bytes() == b"ONE\ntwo\nTHREE\n"
    diffs = [d["diff"] for d in of(messages, "turn/diff/updated")]
    assert len(diffs) == 2
    assert diffs[-1].endswith("@@ -1,3 +1,3 @@\n-one\n+ONE\n two\n-three\n+THREE\n")


# ---- failures change nothing -----------------------------------------------------------------


async def test_a_mismatching_hunk_leaves_every_file_identical(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    populate(workspace, {"a.txt": "one\ntwo\n", "b.txt": "alpha\nbeta\n"})
    before = snapshot(workspace)
    patch = (
        "*** Begin Patch\n"
        "*** Add File: created.txt\n+new\n"
        "*** Update File: a.txt\n@@\n one\n-two\n+TWO\n"
        "*** Update File: b.txt\n@@\n alpha\n-gamma\n+delta\n"
        "*** End Patch"
    )
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch, call_id="call_bad"), text("It failed.")
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "edit")
    messages = await collect_turn(client, turn_id)

    assert snapshot(workspace) == before
    output = tool_outputs(mock_model.requests[1])["call_bad"]
    assert output == (
        f"apply_patch verification failed: Failed to find expected lines in "
        f"{workspace}/b.txt (patch line 10):\nalpha\ngamma"
    )
    # Codex announces no item for a patch that does not verify, and no diff.
    assert not file_items(messages, "item/started")
    assert not of(messages, "turn/diff/updated")


async def test_a_patch_that_does_not_parse_names_the_line(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    patch = "*** Begin Patch\n*** Frobnicate: x\n*** End Patch"
    mock_model.enqueue(custom_tool_call("apply_patch", patch, call_id="call_p"), text("ok"))
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "edit")
    await collect_turn(client, turn_id)
    assert tool_outputs(mock_model.requests[1])["call_p"] == (
        "apply_patch verification failed: invalid hunk at line 2, '*** Frobnicate: x' is not a "
        "valid hunk header. Valid hunk headers: '*** Add File: {path}', "
        "'*** Delete File: {path}', '*** Update File: {path}'"
    )
    assert snapshot(workspace) == {}


# ---- writable roots, symlinks --------------------------------------------------------------


@pytest.mark.parametrize("approval", ["never", "on-request"])
async def test_a_patch_outside_the_writable_roots_is_refused(
    start_client: StartClient,
    mock_model: MockModel,
    workspace: Path,
    outside: Path,
    approval: str,
) -> None:
    target = outside / "target.txt"
    target.write_bytes(b"keep\n")
    populate(workspace, {"inside.txt": "in\n"})
    patch = (
        "*** Begin Patch\n"
        "*** Update File: inside.txt\n@@\n-in\n+IN\n"
        f"*** Update File: {target}\n@@\n-keep\n+lost\n"
        "*** End Patch"
    )
    mock_model.enqueue(custom_tool_call("apply_patch", patch, call_id="call_out"), text("no"))
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval=approval)
    turn_id = await start_turn(client, thread_id, "edit outside")
    messages = await collect_turn(client, turn_id)

    assert target.read_bytes() == b"keep\n"
    assert (workspace / "inside.txt").read_bytes() == b"in\n"
    output = tool_outputs(mock_model.requests[1])["call_out"]
    assert output.startswith("patch rejected: writing outside of the project: ")
    assert str(target) in output
    # Refused outright: nobody is asked, nothing is announced.
    assert not [m for m in messages if m.get("method") == "item/fileChange/requestApproval"]
    assert not file_items(messages, "item/started")


@pytest.mark.parametrize(
    "hunk",
    [
        "*** Add File: escape/new.txt\n+pwned\n",
        "*** Update File: escape/target.txt\n@@\n-keep\n+pwned\n",
        "*** Update File: alias.txt\n@@\n-keep\n+pwned\n",
        "*** Add File: alias.txt\n+pwned\n",
    ],
    ids=["add-through-dir-link", "update-through-dir-link", "update-file-link", "add-file-link"],
)
async def test_a_symlink_cannot_lead_a_patch_out_of_the_workspace(
    start_client: StartClient,
    mock_model: MockModel,
    workspace: Path,
    outside: Path,
    hunk: str,
) -> None:
    (outside / "target.txt").write_bytes(b"keep\n")
    (workspace / "escape").symlink_to(outside, target_is_directory=True)
    (workspace / "alias.txt").symlink_to(outside / "target.txt")
    patch = f"*** Begin Patch\n{hunk}*** End Patch"
    mock_model.enqueue(custom_tool_call("apply_patch", patch, call_id="call_link"), text("no"))
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "follow the link")
    await collect_turn(client, turn_id)

    assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]
    assert (outside / "target.txt").read_bytes() == b"keep\n"
    output = tool_outputs(mock_model.requests[1])["call_link"]
    assert output.startswith("patch rejected: writing outside of the project: ")
    assert str(outside) in output


async def test_git_metadata_inside_the_workspace_stays_read_only(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    populate(workspace, {".git/config": "[core]\n"})
    patch = "*** Begin Patch\n*** Update File: .git/config\n@@\n-[core]\n+[hooked]\n*** End Patch"
    mock_model.enqueue(custom_tool_call("apply_patch", patch, call_id="call_git"), text("no"))
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "edit .git")
    await collect_turn(client, turn_id)
    assert (workspace / ".git/config").read_bytes() == b"[core]\n"
    assert tool_outputs(mock_model.requests[1])["call_git"].startswith("patch rejected: ")


async def test_danger_full_access_writes_anywhere(
    start_client: StartClient, mock_model: MockModel, workspace: Path, outside: Path
) -> None:
    target = outside / "free.txt"
    patch = f"*** Begin Patch\n*** Add File: {target}\n+free\n*** End Patch"
    mock_model.enqueue(custom_tool_call("apply_patch", patch, call_id="call_free"), text("ok"))
    client = await start_client()
    thread_id = await start_thread(client, workspace, sandbox="danger-full-access")
    turn_id = await start_turn(client, thread_id, "write outside")
    messages = await collect_turn(client, turn_id)
    assert target.read_bytes() == b"free\n"
    [done] = file_items(messages, "item/completed")
    assert done["status"] == "completed"


# ---- the forms of the call ------------------------------------------------------------------


async def test_the_heredoc_through_exec_command_is_applied_as_a_patch(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    populate(workspace, {"sub/a.txt": "one\ntwo\n"})
    cmd = (
        "cd sub && apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: a.txt\n@@\n one\n"
        "-two\n+TWO\n*** End Patch\nEOF\n"
    )
    mock_model.enqueue(
        function_call("exec_command", {"cmd": cmd}, call_id="call_heredoc"), text("done")
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "patch via the shell")
    messages = await collect_turn(client, turn_id)

    assert (workspace / "sub/a.txt").read_bytes() == b"one\nTWO\n"
    # A fileChange item, not a command: the shell never ran `apply_patch`.
    assert not [p for p in of(messages, "item/started") if p["item"]["type"] == "commandExecution"]
    [done] = file_items(messages, "item/completed")
    assert done["id"] == "call_heredoc" and done["status"] == "completed"
    assert done["changes"][0]["path"] == f"{workspace}/sub/a.txt"
    assert len(of(messages, "turn/diff/updated")) == 1
    output = tool_outputs(mock_model.requests[1])["call_heredoc"]
    assert _WALL.sub("Wall time: T seconds", output) == (
        "Wall time: T seconds\nOutput:\nExit code: 0\nWall time: T seconds\nOutput:\n"
        "Success. Updated the following files:\nM a.txt\n"
    )


async def test_an_ordinary_command_is_not_taken_for_a_patch(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "echo apply_patch > said.txt"}, call_id="c"),
        text("done"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "echo")
    messages = await collect_turn(client, turn_id)
    assert (workspace / "said.txt").read_bytes() == b"apply_patch\n"
    assert not file_items(messages, "item/started")


def _tool(request: RecordedRequest, name: str) -> dict[str, Any] | None:
    return next((t for t in request.body["tools"] if t.get("name") == name), None)


async def test_the_freeform_spec_carries_codexs_grammar(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(text("hi"), text("hi again"))
    client = await start_client()
    freeform = await start_thread(client, workspace, model=MODEL)
    await collect_turn(client, await start_turn(client, freeform, "hi"))
    fallback = await start_thread(client, workspace, model=None)  # mock-model: Codex's fallback
    await collect_turn(client, await start_turn(client, fallback, "hi"))

    spec = _tool(mock_model.requests[0], "apply_patch")
    assert spec is not None
    assert spec["type"] == "custom"
    assert spec["format"] == {"type": "grammar", "syntax": "lark", "definition": lark_grammar()}
    assert _tool(mock_model.requests[1], "apply_patch") is None


async def test_the_function_form_takes_the_patch_as_input(
    launch_server: Any, mock_model: MockModel, tmp_path: Path, workspace: Path
) -> None:
    home = tmp_path / "fn-home"
    write_mock_config(home, mock_model.base_url, extra='apply_patch_tool_type = "function"')
    populate(workspace, {"a.txt": "one\n"})
    patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n-one\n+uno\n*** End Patch\n"
    mock_model.enqueue(
        function_call("apply_patch", {"input": patch}, call_id="call_fn"), text("done")
    )
    server = await launch_server(home=home)
    client = server.client
    thread_id = await start_thread(client, workspace, model=None)
    turn_id = await start_turn(client, thread_id, "edit")
    messages = await collect_turn(client, turn_id)

    spec = _tool(mock_model.requests[0], "apply_patch")
    assert spec is not None and spec["type"] == "function"
    assert spec["parameters"]["required"] == ["input"]
    assert (workspace / "a.txt").read_bytes() == b"uno\n"
    [done] = file_items(messages, "item/completed")
    assert done["status"] == "completed"
    output = tool_outputs(mock_model.requests[1])["call_fn"]
    assert output.endswith("Success. Updated the following files:\nM a.txt\n")


@pytest.mark.parametrize("git", [True, False], ids=["in-a-git-repo", "no-repo"])
async def test_turn_diff_paths_are_relative_to_the_repository_as_codex_shows_them(
    start_client: StartClient, mock_model: MockModel, workspace: Path, git: bool
) -> None:
    """In a git repository the turn diff names files from the repository's root; else
    from the thread's cwd, with a file outside it shown by its absolute path."""
    populate(workspace, {"sub/a.txt": "one\n", "top.txt": "t\n"})
    if git:
        populate(workspace, {".git/HEAD": "ref: refs/heads/main\n"})
    patch = (
        "*** Begin Patch\n*** Update File: a.txt\n@@\n-one\n+ONE\n"
        "*** Update File: ../top.txt\n@@\n-t\n+T\n*** End Patch\n"
    )
    mock_model.enqueue(custom_tool_call("apply_patch", patch, call_id="call_root"), text("ok"))
    client = await start_client()
    thread_id = await start_thread(client, workspace / "sub", sandbox="danger-full-access")
    turn_id = await start_turn(client, thread_id, "edit")
    messages = await collect_turn(client, turn_id)

    a_diff = (
        "index 5626abf0f72e58d7a153368ba57db4c673c0e171..a2628c1e0953c4bbb3f2195093dab29f1f7ee77e\n"
        "--- a/{p}\n+++ b/{p}\n@@ -1 +1 @@\n-one\n+ONE\n"
    )
    top_diff = (
        "index 718f4d2ff533cf8ead8d3556cf43912bd245fbc4..62a6e3c9dfcb5f2a009cb85d9562145c1ea803a1\n"
        "--- a/{p}\n+++ b/{p}\n@@ -1 +1 @@\n-t\n+T\n"
    )

    def section(path: str, body: str) -> str:
        return f"diff --git a/{path} b/{path}\n" + body.format(p=path)

    if git:  # Codex 0.169, the same files and patch
        expected = section("sub/a.txt", a_diff) + section("top.txt", top_diff)
    else:
        expected = section(f"{workspace}/top.txt", top_diff) + section("a.txt", a_diff)
    [diff] = of(messages, "turn/diff/updated")
    assert diff["diff"] == expected


async def test_patch_updates_are_throttled_while_the_patch_streams(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    """A slow stream of 30 deltas over about 1.5 s gives a few patchUpdated (the first at
    once, then at most one per 0.5 s, and the whole patch last), not one per delta."""
    lines = "".join(f"+line {i}\n" for i in range(30))
    patch = f"*** Begin Patch\n*** Add File: long.txt\n{lines}*** End Patch\n"
    script = replace(
        custom_tool_call("apply_patch", patch, chunks=30, call_id="call_slow"), delay_s=0.05
    )
    mock_model.enqueue(script, text("ok"))
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "write a long file")
    messages = await collect_turn(client, turn_id, timeout=20)

    updates = of(messages, "item/fileChange/patchUpdated")
    assert 2 <= len(updates) <= 6, len(updates)
    sizes = [len(u["changes"][0]["diff"]) for u in updates]
    assert sizes == sorted(sizes)
    assert updates[-1]["changes"] == [
        {"path": "long.txt", "kind": {"type": "add"}, "diff": lines.replace("+", "")}
    ]
    assert (workspace / "long.txt").read_text() == lines.replace("+", "")


@both_stores
async def test_the_rollout_records_the_patch_as_codex_does(
    start_client: StartClient, mock_model: MockModel, workspace: Path, store: StoreUnderTest
) -> None:
    """Codex 0.169 writes a finished patch as an ``item_completed`` line holding its core
    ``FileChange`` item (changes keyed by path, the runner's stdout) in every mode."""
    populate(workspace, {"a.txt": "one\ntwo\n"})
    patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n one\n-two\n+TWO\n*** End Patch\n"
    mock_model.enqueue(custom_tool_call("apply_patch", patch, call_id="call_rec"), text("ok"))
    client = await start_client()
    started = await client.request(
        "thread/start", {"cwd": str(workspace), "model": MODEL, "sandbox": "workspace-write"}
    )
    await client.wait_for_notification("thread/started")
    thread_id = started["thread"]["id"]
    turn_id = await start_turn(client, thread_id, "edit")
    await collect_turn(client, turn_id)
    await client.request("thread/unsubscribe", {"threadId": thread_id})

    lines = store.lines(started["thread"]["path"])
    [record] = [
        line["payload"]
        for line in lines
        if line["type"] == "event_msg"
        and line["payload"].get("type") == "item_completed"
        and line["payload"]["item"].get("type") == "FileChange"
    ]
    assert record["thread_id"] == thread_id and record["turn_id"] == turn_id
    assert record["item"] == {
        "type": "FileChange",
        "id": "call_rec",
        "changes": {
            f"{workspace}/a.txt": {
                "type": "update",
                "unified_diff": "@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n",
                "move_path": None,
            }
        },
        "status": "completed",
        "stdout": "Success. Updated the following files:\nM a.txt\n",
        "stderr": "",
    }
    assert isinstance(record["started_at_ms"], int) and isinstance(record["completed_at_ms"], int)
