"""protocol/v2/thread.py keeps only what a first thread/list needs; the other list-side
types live in protocol/v2/thread_meta.py and are still named by thread.py and the v2
package. Its copies of four protocol.v2.settings aliases must stay what settings says."""

from __future__ import annotations

import json
import subprocess
import sys

from threadline.protocol import v2
from threadline.protocol.v2 import settings, thread, thread_meta


def test_the_aliases_thread_uses_are_the_settings_ones() -> None:
    for name in ("AbsolutePathBuf", "ReasoningEffort", "SortDirection", "ThreadId"):
        assert getattr(thread, name) == getattr(settings, name), name


def test_moved_names_are_the_same_objects_everywhere() -> None:
    assert set(thread_meta.__all__) <= set(thread.__all__)
    for name in thread_meta.__all__:
        value = getattr(thread_meta, name)
        assert value.__module__ == "threadline.protocol.v2.thread_meta"
        assert getattr(thread, name) is value
        assert getattr(v2, name) is value
    namespace: dict[str, object] = {}
    exec("from threadline.protocol.v2.thread import *", namespace)
    assert {n for n in thread.__all__ if n not in namespace} == set()


def test_importing_thread_loads_neither_thread_meta_nor_settings() -> None:
    probe = (
        "import json, sys\n"
        "import threadline.protocol.v2.thread as t\n"
        "before = sorted(m for m in sys.modules if m.startswith('threadline.protocol.v2.'))\n"
        "t.ThreadReadParams\n"
        "after = sorted(m for m in sys.modules if m.startswith('threadline.protocol.v2.'))\n"
        "print(json.dumps([before, after]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60)
    before, after = json.loads(out.stdout)
    assert "threadline.protocol.v2.thread_meta" not in before
    assert "threadline.protocol.v2.settings" not in before
    assert "threadline.protocol.v2.thread_meta" in after
