"""``protocol.lazy_adapter.LazyTypeAdapter``: the module-level union adapters are not built
at import, are built once on first use (also from several threads at once) and validate and
dump exactly as a ``TypeAdapter`` does."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

from pydantic import TypeAdapter

from threadline.protocol.items import ResponseItem
from threadline.protocol.lazy_adapter import LazyTypeAdapter
from threadline.protocol.v2.item import ThreadItem

ITEM = {"type": "agentMessage", "id": "m1", "text": "hi", "phase": None, "memoryCitation": None}


def test_import_builds_no_adapter() -> None:
    probe = (
        "import json\n"
        "from threadline.protocol import items\n"
        "from threadline.protocol.v2 import item\n"
        "print(json.dumps([item.thread_item_adapter.built, item.user_input_adapter.built,"
        " items.response_item_adapter.built]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout) == [False, False, False]


def test_first_use_from_many_threads_builds_one_adapter() -> None:
    lazy: LazyTypeAdapter[Any] = LazyTypeAdapter(ThreadItem)
    start = threading.Barrier(8)
    seen: list[object] = []
    results: list[Any] = []

    def use() -> None:
        start.wait()
        results.append(lazy.validate_python(ITEM))
        seen.append(lazy.adapter)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert lazy.built and len(seen) == 8 and all(a is seen[0] for a in seen)
    eager: TypeAdapter[Any] = TypeAdapter(ThreadItem)
    expected = eager.dump_python(eager.validate_python(ITEM), mode="json", by_alias=True)
    for value in results:
        assert lazy.dump_python(value, mode="json", by_alias=True) == expected


def test_lazy_and_eager_agree_on_response_items() -> None:
    lazy: LazyTypeAdapter[Any] = LazyTypeAdapter(ResponseItem)
    eager: TypeAdapter[Any] = TypeAdapter(ResponseItem)
    for data in (
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
        {"type": "function_call", "name": "shell", "arguments": "{}", "call_id": "c1"},
        {"type": "something_new", "payload": 1},
    ):
        a, b = lazy.validate_python(data), eager.validate_python(data)
        assert type(a) is type(b) and a.model_dump() == b.model_dump()
