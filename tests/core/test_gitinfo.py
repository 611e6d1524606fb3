"""git_info reads commit, branch and origin from .git files, as `git` itself reports them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from threadline.core.gitinfo import git_info

ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "PATH": "/usr/bin:/bin",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, env=ENV, capture_output=True, text=True)
    return done.stdout.strip()


def test_outside_a_repository(tmp_path: Path) -> None:
    assert git_info(tmp_path) is None


def test_branch_sha_origin_from_a_subdirectory_and_packed_refs(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    git(tmp_path, "remote", "add", "origin", "git@example.invalid:o/r.git")
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    info = git_info(tmp_path / "sub" / "dir")
    assert info is not None
    assert (info.commit_hash, info.branch, info.repository_url) == (
        git(tmp_path, "rev-parse", "HEAD"), "main", "git@example.invalid:o/r.git"
    )
    git(tmp_path, "pack-refs", "--all")
    assert not (tmp_path / ".git" / "refs" / "heads" / "main").exists()
    packed = git_info(tmp_path)
    assert packed is not None and packed.commit_hash == git(tmp_path, "rev-parse", "HEAD")


def test_detached_head_and_unborn_branch(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    unborn = git_info(tmp_path)
    assert unborn is not None and unborn.branch == "main" and unborn.commit_hash is None
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    sha = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "checkout", "-q", "--detach")
    detached = git_info(tmp_path)
    assert detached is not None and detached.branch is None and detached.commit_hash == sha
    assert detached.repository_url is None
