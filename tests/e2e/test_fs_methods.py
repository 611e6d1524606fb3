"""The ``fs/*`` methods over the real stdio app-server, with the answers and error
wording Codex 0.169 gives (recorded against the real binary): base64 ``dataBase64``,
``-32603`` with the OS error for a failing call, ``-32600`` for a refused request.

The server runs in ``<tmp>/ws`` (its cwd is a root of the connection); the home is
beside it, outside every root.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import StartClient
from tests.support.appserver import AppServerClient


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    work = tmp_path / "ws"
    work.mkdir()
    return work


async def client_in(start_client: StartClient, ws: Path) -> AppServerClient:
    return await start_client(cwd=ws)


async def test_read_write_round_trip_and_errors(start_client: StartClient, ws: Path) -> None:
    client = await client_in(start_client, ws)
    payload = bytes(range(256)) * 10
    assert (
        await client.request(
            "fs/writeFile", {"path": str(ws / "b.bin"), "dataBase64": b64(payload)}
        )
        == {}
    )
    assert (ws / "b.bin").read_bytes() == payload
    got = await client.request("fs/readFile", {"path": str(ws / "b.bin")})
    assert base64.b64decode(got["dataBase64"]) == payload
    # `..` is folded before the check: still inside.
    got = await client.request("fs/readFile", {"path": f"{ws}/sub/../b.bin"})
    assert base64.b64decode(got["dataBase64"]) == payload

    err = await client.request_error("fs/readFile", {"path": str(ws / "missing")})
    assert err == {"code": -32603, "message": "No such file or directory (os error 2)"}
    err = await client.request_error("fs/readFile", {"path": str(ws)})
    assert err["code"] == -32600 and err["message"] == f"path `{ws}` is not a file"
    err = await client.request_error("fs/readFile", {"path": "b.bin"})
    assert err["code"] == -32600 and "absolute" in err["message"] and "path" in err["message"]
    err = await client.request_error("fs/readFile", {})
    assert err["code"] == -32600 and "path" in err["message"]
    err = await client.request_error("fs/writeFile", {"path": str(ws / "c"), "dataBase64": "!!"})
    assert err["code"] == -32600
    assert err["message"].startswith("fs/writeFile requires valid base64 dataBase64")
    assert not (ws / "c").exists()
    err = await client.request_error(
        "fs/writeFile", {"path": str(ws / "nodir" / "c"), "dataBase64": "aGk="}
    )
    assert err == {"code": -32603, "message": "No such file or directory (os error 2)"}


async def test_directories_metadata_remove_copy(start_client: StartClient, ws: Path) -> None:
    client = await client_in(start_client, ws)
    assert await client.request("fs/createDirectory", {"path": str(ws / "x/y/z")}) == {}
    assert (ws / "x/y/z").is_dir()
    assert await client.request("fs/createDirectory", {"path": str(ws / "x/y/z")}) == {}
    err = await client.request_error(
        "fs/createDirectory", {"path": str(ws / "q/r"), "recursive": False}
    )
    assert err == {"code": -32603, "message": "No such file or directory (os error 2)"}
    (ws / "a.txt").write_text("hello\n")
    err = await client.request_error("fs/createDirectory", {"path": str(ws / "a.txt")})
    assert err == {"code": -32603, "message": "File exists (os error 17)"}

    os.symlink(ws / "a.txt", ws / "link")
    meta = await client.request("fs/getMetadata", {"path": str(ws / "link")})
    assert meta["isSymlink"] is True and meta["isFile"] is True and meta["isDirectory"] is False
    assert abs(meta["modifiedAtMs"] - int((ws / "a.txt").stat().st_mtime * 1000)) <= 1
    meta = await client.request("fs/getMetadata", {"path": str(ws / "x")})
    assert (meta["isDirectory"], meta["isFile"], meta["isSymlink"]) == (True, False, False)

    listing = await client.request("fs/readDirectory", {"path": str(ws)})
    assert listing["entries"] == [
        {"fileName": "a.txt", "isDirectory": False, "isFile": True},
        {"fileName": "link", "isDirectory": False, "isFile": True},
        {"fileName": "x", "isDirectory": True, "isFile": False},
    ]
    err = await client.request_error("fs/readDirectory", {"path": str(ws / "a.txt")})
    assert err == {"code": -32603, "message": "Not a directory (os error 20)"}

    (ws / "x/y/f").write_text("f")
    os.symlink("f", ws / "x/y/flink")
    err = await client.request_error(
        "fs/copy", {"sourcePath": str(ws / "x"), "destinationPath": str(ws / "x2")}
    )
    assert err["message"] == "fs/copy requires recursive: true when sourcePath is a directory"
    await client.request(
        "fs/copy",
        {"sourcePath": str(ws / "x"), "destinationPath": str(ws / "x2"), "recursive": True},
    )
    assert (ws / "x2/y/f").read_text() == "f" and (ws / "x2/y/z").is_dir()
    assert os.readlink(ws / "x2/y/flink") == "f"
    err = await client.request_error(
        "fs/copy",
        {"sourcePath": str(ws / "x"), "destinationPath": str(ws / "x/in"), "recursive": True},
    )
    assert err["message"] == "fs/copy cannot copy a directory to itself or one of its descendants"
    await client.request(
        "fs/copy", {"sourcePath": str(ws / "a.txt"), "destinationPath": str(ws / "b.txt")}
    )
    assert (ws / "b.txt").read_text() == "hello\n"

    assert await client.request("fs/remove", {"path": str(ws / "missing")}) == {}
    err = await client.request_error("fs/remove", {"path": str(ws / "missing"), "force": False})
    assert err == {"code": -32603, "message": "No such file or directory (os error 2)"}
    err = await client.request_error("fs/remove", {"path": str(ws / "x"), "recursive": False})
    assert err == {"code": -32603, "message": "Directory not empty (os error 39)"}
    await client.request("fs/remove", {"path": str(ws / "link")})
    assert not (ws / "link").exists() and (ws / "a.txt").exists()
    await client.request("fs/remove", {"path": str(ws / "x")})
    assert not (ws / "x").exists()


async def _changed(client: AppServerClient, watch_id: str, timeout: float = 5) -> list[str]:
    note = await client.wait_for_notification(
        "fs/changed", timeout=timeout, predicate=lambda p: p["watchId"] == watch_id
    )
    paths: list[str] = note["params"]["changedPaths"]
    return paths


async def test_watch_reports_direct_children_then_unwatch_stops(
    start_client: StartClient, ws: Path
) -> None:
    client = await client_in(start_client, ws)
    d = ws / "d"
    (d / "sub").mkdir(parents=True)
    (d / "f").write_text("x")
    assert await client.request("fs/watch", {"path": str(d), "watchId": "w1"}) == {"path": str(d)}
    err = await client.request_error("fs/watch", {"path": str(d), "watchId": "w1"})
    assert err == {"code": -32600, "message": "watchId already exists: w1"}
    (d / "f").write_text("y2")
    (d / "new").write_text("z")
    (d / "sub" / "deep").mkdir()  # not a direct child: not reported
    paths = await _changed(client, "w1")
    await asyncio.sleep(0.5)
    for note in client.received("fs/changed"):
        paths += [p for p in note["params"]["changedPaths"] if p not in paths]
    assert sorted(set(paths)) == [str(d / "f"), str(d / "new")]

    # A watch on a file that does not exist yet reports its creation.
    assert await client.request("fs/watch", {"path": str(ws / "later"), "watchId": "w2"})
    (ws / "later").write_text("now")
    assert await _changed(client, "w2") == [str(ws / "later")]

    assert await client.request("fs/unwatch", {"watchId": "w1"}) == {}
    assert await client.request("fs/unwatch", {"watchId": "never"}) == {}
    seen = len(client.received("fs/changed"))
    (d / "after").write_text("q")
    await asyncio.sleep(0.8)
    assert [n for n in client.received("fs/changed")[seen:] if n["params"]["watchId"] == "w1"] == []


class _OpenCounter:
    """Counts the opens of one directory with inotify (``IN_OPEN``): the polling watch
    opens what it watches, so no opens means no watch is running on it."""

    IN_OPEN = 0x20
    IN_NONBLOCK = 0o4000

    def __init__(self, path: Path) -> None:
        import ctypes
        import ctypes.util

        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.fd = self._libc.inotify_init1(self.IN_NONBLOCK)
        assert self.fd >= 0
        assert self._libc.inotify_add_watch(self.fd, str(path).encode(), self.IN_OPEN) >= 0

    def drain(self) -> int:
        count = 0
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return count
            count += (
                len(data) // 16
            )  # one event per 16-byte header (no names for IN_OPEN on the dir)

    def close(self) -> None:
        os.close(self.fd)


async def test_watches_belong_to_their_connection_and_end_with_it(
    launch_server: Any, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    (ws / "a").mkdir(parents=True)
    (ws / "b").mkdir()
    server = await launch_server(transport="ws", cwd=ws)
    a = await server.connect()
    b = await server.connect()
    await a.request("fs/watch", {"path": str(ws / "a"), "watchId": "w"})
    await b.request(
        "fs/watch", {"path": str(ws / "b"), "watchId": "w"}
    )  # same id, other connection
    (ws / "a" / "x").write_text("1")
    assert await _changed(a, "w") == [str(ws / "a" / "x")]
    (ws / "b" / "y").write_text("1")
    assert await _changed(b, "w") == [str(ws / "b" / "y")]
    assert all(
        str(ws / "a") in p for n in a.received("fs/changed") for p in n["params"]["changedPaths"]
    )
    assert all(
        str(ws / "b") in p for n in b.received("fs/changed") for p in n["params"]["changedPaths"]
    )

    opens_a, opens_b = _OpenCounter(ws / "a"), _OpenCounter(ws / "b")
    try:
        await asyncio.sleep(0.7)
        assert opens_a.drain() > 0 and opens_b.drain() > 0  # both polled
        await server.websockets[0].close()
        await asyncio.sleep(0.6)
        opens_a.drain()
        opens_b.drain()
        await asyncio.sleep(0.8)
        assert opens_a.drain() == 0  # a's watch ended with its connection
        assert opens_b.drain() > 0
        await b.request("fs/unwatch", {"watchId": "w"})
        opens_b.drain()
        await asyncio.sleep(0.6)
        assert opens_b.drain() == 0
    finally:
        opens_a.close()
        opens_b.close()
    await server.stop()
