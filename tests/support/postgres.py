"""A throw-away PostgreSQL cluster for the tests: ``initdb`` in a temporary directory,
``pg_ctl start`` on a private unix socket, ``pg_ctl stop`` and removal at the end.

``initdb`` refuses to run as root, so under root the cluster belongs to the unprivileged
test user (``tluser``) and every server binary runs as that user. The binaries come
from ``PATH``, else from the Debian package's ``/usr/lib/postgresql/*/bin``; when there
are none the tests that need a cluster skip (CI installs the package: ``.ci/run``).

One cluster serves a whole test session (:func:`session_cluster`); each test takes a
fresh database in it (:meth:`PgCluster.new_database`), so tests never see each other's
rows.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PgCluster", "pg_bin_dir", "pg_database_url", "session_cluster", "start_cluster"]

_counter = itertools.count(1)


def pg_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(candidate, "initdb"), os.X_OK):
            return Path(candidate)
    return None


class PgCluster:
    """A running cluster; ``url`` connects as the superuser ``postgres`` over the socket."""

    def __init__(self, root: Path, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "sock"
        self.bin_dir = bin_dir
        self._user = user
        self.port = 5432

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._user is not None:
            kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        env = {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [str(self.bin_dir / args[0]), *args[1:]],
            env=env, cwd=str(self.root), capture_output=True, text=True, check=check,
            timeout=120, **kwargs,
        )

    def start(self) -> None:
        self.socket_dir.mkdir()
        if self._user is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        init = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--no-sync", check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
        self._start_server()

    def _start_server(self) -> None:
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' "
            f"-p {self.port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        started = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start", check=False,
        )
        if started.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{log}")

    def restart(self) -> None:
        """Stop the server (every session ends; ``fast``: what was committed is kept even
        with this cluster's ``synchronous_commit=off``) and start it again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        self._start_server()

    def pause(self) -> None:
        """Stop the server but keep its data (:meth:`resume` starts it again)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def resume(self) -> None:
        self._start_server()

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        made = self._run(
            "createdb", "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", name,
            check=False,
        )
        if made.returncode != 0:
            raise RuntimeError(f"createdb failed: {made.stderr.strip()}")
        return self.url_for(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PgCluster | None:
    """A started cluster, or None when PostgreSQL is not installed here."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        return None
    user = pwd.getpwnam("tluser") if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="tl-pg-", dir="/tmp"))
    os.chmod(root, 0o755)
    cluster = PgCluster(root, bin_dir, user)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


_session: list[PgCluster] = []


def session_cluster() -> PgCluster:
    """This test session's cluster (started on first use, stopped at exit); skips the
    test when PostgreSQL is not installed (fails under CI)."""
    import pytest

    if not _session:
        cluster = start_cluster()
        if cluster is None:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL is not installed (.ci/run installs the Debian package)")
            pytest.skip("PostgreSQL is not installed (initdb not found)")
        import atexit

        atexit.register(cluster.stop)
        _session.append(cluster)
    return _session[0]


def pg_database_url(prefix: str = "t") -> str:
    """A fresh database in this test session's cluster (started on first use, stopped at
    exit); skips the test when PostgreSQL is not installed (fails under CI)."""
    return session_cluster().new_database(prefix)
