"""``NotWritable``: an ``OSError`` saying a path cannot be written becomes a request error
that names the path (JSON-RPC -32600 at the server), other failures stay what they are."""

from __future__ import annotations

import errno
import os

import pytest

from threadline.core.errors import InvalidRequest, NotWritable, storing


@pytest.mark.parametrize(
    ("code", "why"),
    [
        (errno.EROFS, "is on a read-only file system"),
        (errno.EACCES, "is not writable"),
        (errno.EPERM, "is not writable"),
    ],
)
def test_unwritable_os_errors_become_not_writable(code: int, why: str) -> None:
    with pytest.raises(NotWritable) as caught, storing("archive thread abc"):
        raise OSError(code, os.strerror(code), "/home/x/sessions/rollout.jsonl")
    assert isinstance(caught.value, InvalidRequest)
    assert caught.value.message == f"cannot archive thread abc: `/home/x/sessions/rollout.jsonl` {why}"
    assert isinstance(caught.value.__cause__, OSError)


def test_without_a_file_name_the_home_is_named() -> None:
    error = NotWritable.from_os_error("rename thread abc", OSError(errno.EROFS, "Read-only"))
    assert error is not None
    assert error.message == "cannot rename thread abc: the home is on a read-only file system"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.ENOENT])
def test_other_os_errors_pass_through(code: int) -> None:
    with pytest.raises(OSError) as caught, storing("archive thread abc"):
        raise OSError(code, os.strerror(code), "/somewhere")
    assert not isinstance(caught.value, NotWritable)
    assert caught.value.errno == code
