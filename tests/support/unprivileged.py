"""Running this checkout's threadline as the unprivileged test user (``tluser``)."""

from __future__ import annotations

import pwd
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import threadline


def user_python(user: pwd.struct_passwd) -> tuple[list[str], dict[str, str]]:
    """An interpreter the user can run that imports this checkout's threadline."""
    src = str(Path(threadline.__file__).resolve().parents[1])
    site = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": user.pw_dir,
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{src}:{site}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), f"/usr/bin/{version}"]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            probe = subprocess.run(
                [python, "-c", "import threadline.tools.shell"],
                env=env,
                cwd="/",
                user=user.pw_uid,
                group=user.pw_gid,
                extra_groups=[],
                capture_output=True,
                check=False,
            )
        except OSError:  # e.g. the venv's interpreter lives under root's home
            continue
        if probe.returncode == 0:
            return [python], env
    pytest.fail(f"no Python interpreter {user.pw_name} can run that imports threadline")
