"""Finding where a command's ``pids`` cgroup goes, from mountinfo and /proc/self/cgroup text."""

from __future__ import annotations

from pathlib import Path

from threadline.sandbox.limits import CgroupParent, find_cgroup_parent, nproc_prefix


def _mountinfo(*mounts: tuple[Path, str, str]) -> str:
    return "".join(
        f"{30 + i} 1 0:{40 + i} / {point} rw,relatime - {fstype} cgroup {options}\n"
        for i, (point, fstype, options) in enumerate(mounts)
    )


def test_cgroup_v2_with_pids_is_preferred_and_delegated(tmp_path: Path) -> None:
    unified, v1 = tmp_path / "unified", tmp_path / "pids"
    (unified / "svc").mkdir(parents=True)
    v1.mkdir()
    (unified / "svc" / "cgroup.controllers").write_text("cpu memory pids\n")
    (unified / "svc" / "cgroup.subtree_control").write_text("cpu\n")
    info = _mountinfo((unified, "cgroup2", "rw"), (v1, "cgroup", "rw,pids"))
    found = find_cgroup_parent(info, "1:pids:/\n0::/svc\n")
    assert found == CgroupParent(unified / "svc", 2)
    # It asked the kernel to delegate pids to the children it will create.
    assert (unified / "svc" / "cgroup.subtree_control").read_text() == "+pids"


def test_cgroup_v1_pids_when_v2_lacks_the_controller(tmp_path: Path) -> None:
    unified, v1 = tmp_path / "unified", tmp_path / "pids"
    unified.mkdir()
    (v1 / "job").mkdir(parents=True)
    (unified / "cgroup.controllers").write_text("hugetlb\n")
    info = _mountinfo((unified, "cgroup2", "rw"), (v1, "cgroup", "rw,pids"))
    assert find_cgroup_parent(info, "8:pids:/job\n0::/\n") == CgroupParent(v1 / "job", 1)


def test_no_pids_controller_anywhere(tmp_path: Path) -> None:
    memory = tmp_path / "memory"
    memory.mkdir()
    info = _mountinfo((memory, "cgroup", "rw,memory"))
    assert find_cgroup_parent(info, "4:memory:/\n") is None


def test_nproc_prefix_fails_rather_than_running_unlimited() -> None:
    argv = nproc_prefix(64)
    assert argv[:2] == ["/bin/sh", "-c"] and "ulimit -u 64" in argv[2]
    assert "exit 126" in argv[2] and argv[2].endswith('exec "$@"')
