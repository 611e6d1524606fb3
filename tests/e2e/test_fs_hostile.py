"""The ``fs/*`` methods refuse what lies outside the connection's roots, however the
path gets there: a symlink out (as the final component or in the middle), ``..``,
``/proc``, the home beside the workspace, a watch outside, a write through a link.

The server runs in ``<tmp>/ws``; ``<tmp>/outside`` and the home are not roots. Every
refusal is ``-32600`` naming the path, and leaves the outside untouched.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest
from tests.e2e.conftest import StartClient
from tests.support.unprivileged import user_python


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n")
    (outside / "dir").mkdir()
    os.symlink(outside / "secret.txt", ws / "to_secret")
    os.symlink(outside, ws / "to_outside")
    os.symlink("../outside/secret.txt", ws / "relative_link")
    return ws, outside


def refused(err: dict[str, object], path: str) -> bool:
    message = str(err["message"])
    return err["code"] == -32600 and f"`{path}`" in message and "outside the roots" in message


async def test_reads_outside_are_refused(
    start_client: StartClient, layout: tuple[Path, Path], tmp_path: Path
) -> None:
    ws, outside = layout
    client = await start_client(cwd=ws)
    for path in [
        str(outside / "secret.txt"),
        str(ws / "to_secret"),
        str(ws / "relative_link"),
        str(ws / "to_outside" / "secret.txt"),
        f"{ws}/../outside/secret.txt",
        "/proc/self/environ",
        "/etc/passwd",
        str(tmp_path / "home" / "config.toml"),
    ]:
        err = await client.request_error("fs/readFile", {"path": path})
        assert refused(err, os.path.normpath(path)), (path, err)
        err = await client.request_error("fs/getMetadata", {"path": path})
        assert err["code"] == -32600, (path, err)
    for path in [str(outside), str(ws / "to_outside"), "/proc/self", "/"]:
        err = await client.request_error("fs/readDirectory", {"path": path})
        assert err["code"] == -32600 and "outside the roots" in err["message"], (path, err)


async def test_writes_outside_are_refused_and_change_nothing(
    start_client: StartClient, layout: tuple[Path, Path]
) -> None:
    ws, outside = layout
    client = await start_client(cwd=ws)
    data = base64.b64encode(b"pwned").decode()
    for path in [
        str(outside / "new.txt"),
        str(ws / "to_secret"),  # a write through a link lands on its target: refused
        str(ws / "to_outside" / "new.txt"),
        f"{ws}/../outside/new.txt",
    ]:
        err = await client.request_error("fs/writeFile", {"path": path, "dataBase64": data})
        assert err["code"] == -32600 and "outside the roots" in err["message"], (path, err)
    err = await client.request_error(
        "fs/createDirectory", {"path": str(ws / "to_outside" / "a" / "b")}
    )
    assert err["code"] == -32600
    err = await client.request_error("fs/remove", {"path": str(outside / "secret.txt")})
    assert err["code"] == -32600
    err = await client.request_error("fs/remove", {"path": str(ws / "to_outside" / "dir")})
    assert err["code"] == -32600
    err = await client.request_error(
        "fs/copy", {"sourcePath": str(ws / "to_secret"), "destinationPath": str(outside / "c")}
    )
    assert err["code"] == -32600
    err = await client.request_error(
        "fs/copy",
        {"sourcePath": str(outside), "destinationPath": str(ws / "stolen"), "recursive": True},
    )
    assert err["code"] == -32600
    assert sorted(p.name for p in outside.iterdir()) == ["dir", "secret.txt"]
    assert (outside / "secret.txt").read_text() == "top secret\n"
    assert not (ws / "stolen").exists()

    # Removing a link inside removes the link, never what it points to.
    await client.request("fs/remove", {"path": str(ws / "to_outside")})
    assert not (ws / "to_outside").exists() and (outside / "dir").is_dir()
    # Copying a link inside copies the link (its target is not read).
    await client.request(
        "fs/copy", {"sourcePath": str(ws / "to_secret"), "destinationPath": str(ws / "copy")}
    )
    assert os.readlink(ws / "copy") == str(outside / "secret.txt")


async def test_watch_outside_refused_and_swapped_link_does_not_move_it(
    start_client: StartClient, layout: tuple[Path, Path]
) -> None:
    ws, outside = layout
    client = await start_client(cwd=ws)
    err = await client.request_error("fs/watch", {"path": str(outside), "watchId": "w"})
    assert refused(err, str(outside))
    err = await client.request_error("fs/watch", {"path": str(ws / "to_outside"), "watchId": "w"})
    assert err["code"] == -32600
    (ws / "inner").mkdir()
    os.symlink(ws / "inner", ws / "flip")
    await client.request("fs/watch", {"path": str(ws / "flip"), "watchId": "w"})
    (ws / "flip").unlink()
    os.symlink(outside, ws / "flip")
    await asyncio.sleep(0.3)
    (outside / "leak.txt").write_text("x")
    await asyncio.sleep(0.8)
    leaked = [
        p
        for n in client.received("fs/changed")
        for p in n["params"]["changedPaths"]
        if p.endswith("leak.txt")
    ]
    assert leaked == []


async def test_roots_grow_with_a_thread_cwd(
    start_client: StartClient, layout: tuple[Path, Path], tmp_path: Path
) -> None:
    ws, _ = layout
    project = tmp_path / "project"
    project.mkdir()
    (project / "p.txt").write_text("p")
    client = await start_client(cwd=ws)
    err = await client.request_error("fs/readFile", {"path": str(project / "p.txt")})
    assert err["code"] == -32600
    await client.request("thread/start", {"cwd": str(project)})
    got = await client.request("fs/readFile", {"path": str(project / "p.txt")})
    assert base64.b64decode(got["dataBase64"]) == b"p"


_AS_USER = """
import json, sys
from threadline.core import files_access as fa
from threadline.core.errors import CoreError
args = json.loads(sys.argv[1])
roots = fa.FileRoots.of([args["ws"]])
out = {}
for name, path in args["reads"].items():
    try:
        out[name] = fa.read_file(roots, path).decode()
    except CoreError as exc:
        out[name] = "error: " + exc.message
try:
    fa.write_file(roots, args["write"], b"x")
    out["write"] = "ok"
except CoreError as exc:
    out["write"] = "error: " + exc.message
print(json.dumps(out))
"""


async def test_as_unprivileged_user_permissions_still_bind() -> None:
    """As ``tluser``: a root-only file inside the roots fails with the OS's answer, a link
    to it from the workspace too, and a link out is refused before any open."""
    if os.geteuid() != 0:
        pytest.skip("runs as the unprivileged user only when the suite runs as root")
    try:
        user = pwd.getpwnam("tluser")
    except KeyError:
        pytest.skip("no user 'tluser'")
    argv, env = user_python(user)
    base = Path(tempfile.mkdtemp(prefix="threadline-fs-", dir="/var/tmp"))
    try:
        ws, outside = base / "ws", base / "outside"
        ws.mkdir()
        outside.mkdir()
        os.chown(base, user.pw_uid, user.pw_gid)
        os.chown(ws, user.pw_uid, user.pw_gid)
        (ws / "mine.txt").write_text("mine")
        os.chown(ws / "mine.txt", user.pw_uid, user.pw_gid)
        (ws / "rootonly.txt").write_text("root")
        os.chmod(ws / "rootonly.txt", 0o600)
        (outside / "open.txt").write_text("world readable")
        os.chmod(outside / "open.txt", 0o644)
        os.symlink(outside / "open.txt", ws / "out_link")
        os.symlink(ws / "rootonly.txt", ws / "in_link")
        locked = ws / "locked"
        locked.mkdir()
        os.chmod(locked, 0o755)  # root's directory: tluser cannot create in it
        args = {
            "ws": str(ws),
            "reads": {
                "mine": str(ws / "mine.txt"),
                "rootonly": str(ws / "rootonly.txt"),
                "in_link": str(ws / "in_link"),
                "out_link": str(ws / "out_link"),
            },
            "write": str(locked / "new.txt"),
        }
        proc = await asyncio.create_subprocess_exec(
            *argv,
            "-c",
            _AS_USER,
            json.dumps(args),
            env=env,
            cwd="/",
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        result = json.loads(out)
        assert result["mine"] == "mine"
        assert result["rootonly"] == "error: Permission denied (os error 13)"
        assert result["in_link"] == "error: Permission denied (os error 13)"
        assert (
            result["out_link"].startswith("error: path `")
            and "outside the roots" in result["out_link"]
        )
        assert result["write"] == "error: Permission denied (os error 13)"
        assert not (locked / "new.txt").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_a_root_itself_cannot_be_removed_or_overwritten(
    start_client: StartClient, layout: tuple[Path, Path]
) -> None:
    ws, _ = layout
    client = await start_client(cwd=ws)
    for method, params in [
        ("fs/remove", {"path": str(ws)}),
        ("fs/writeFile", {"path": str(ws), "dataBase64": "aGk="}),
        ("fs/remove", {"path": f"{ws}/sub/.."}),
    ]:
        err = await client.request_error(method, params)
        assert err["code"] == -32600 and "is a root of this connection" in err["message"], err
    assert ws.is_dir() and (ws / "to_secret").is_symlink()
    err = await client.request_error("fs/readFile", {"path": f"{ws}/a\u0000b"})
    assert err["code"] == -32600 and "NUL" in err["message"]
