"""The layout rule of docs/STYLE.md: no module under src/threadline is longer than 600 lines
(split by responsibility before that; see how rollout/offsets_cache.py left offsets.py)."""

from __future__ import annotations

from pathlib import Path

import threadline

LIMIT = 600


def test_no_module_is_longer_than_the_limit() -> None:
    root = Path(threadline.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 100  # the package itself, not an installed stub
    too_long = {
        str(path.relative_to(root)): count
        for path in modules
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert too_long == {}
