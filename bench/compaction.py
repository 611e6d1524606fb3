"""Rollout growth, resume time and peak RSS of a long thread that compacts often.

    .venv/bin/python bench/compaction.py [--turns 1000] [--every 10] [--image-kb 20]

A thread of ``--turns`` turns runs on the real app-server (in-process, memory transport)
against the mock model on 127.0.0.1; every user message carries a fresh PNG as a
``data:`` URL. Every ``--every``-th answer reports a usage above the auto-compact limit,
so the next turn compacts first (about ``turns / every`` compactions, plus one
``thread/compact/start`` at the end).

The counterfactual "without the image deduplication" is the same rollout with every
image placeholder in the ``compacted`` lines' ``replacement_history`` put back to the
image it names (what a compaction that copies images writes). For both files it reports
the size, and, in a fresh child process each, the time and peak RSS of rebuilding the
model history (``rollout.history.model_history`` over the parsed lines, what resume does).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import write_mock_config  # noqa: E402
from tests.support.memory_server import InProcessServer  # noqa: E402
from tests.support.mock_model import MockModel, RecordedRequest, Script, text, usage  # noqa: E402

from threadline.core.compaction import compact_prompt  # noqa: E402

WINDOW = "model_context_window = 200000\nmodel_auto_compact_token_limit = 150000\n"


def png(seed: int, kb: int) -> str:
    """A data URL of about ``kb`` KiB that does not compress (distinct per turn)."""
    noise = hashlib.shake_256(seed.to_bytes(8, "big")).digest(kb * 1024)
    raw = b"\x89PNG\r\n\x1a\n" + zlib.compress(noise, 0)
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


async def build(home: Path, turns: int, every: int, kb: int) -> tuple[Path, int, float]:
    with MockModel() as mock:
        write_mock_config(home, mock.base_url, request_max_retries=0, extra=WINDOW)
        answered = 0

        def script(request: RecordedRequest) -> Script:
            nonlocal answered
            last = request.body["input"][-1]
            if last.get("type") == "message" and last["content"][0].get("text") == compact_prompt():
                return text(
                    "note: the user sends pictures and wants them described",
                    usage=usage(input=2000, output=30),
                )
            answered += 1
            big = answered % every == 0
            return text("described", usage=usage(input=160_000 if big else 3000, output=20))

        mock.set_default(script)
        server = InProcessServer(home, test_methods=False)
        client = await server.connect()
        started = time.perf_counter()
        tid = (await client.request("thread/start", {"cwd": str(home)}))["thread"]["id"]
        for n in range(turns):
            content = [
                {"type": "text", "text": f"picture {n}"},
                {"type": "image", "url": png(n, kb)},
            ]
            await client.request("turn/start", {"threadId": tid, "input": content})
            await client.wait_for_notification("turn/completed", timeout=60)
            client.records.clear()
        await client.request("thread/compact/start", {"threadId": tid})
        await client.wait_for_notification("turn/completed", timeout=60)
        elapsed = time.perf_counter() - started
        await server.stop()
    path = next((home / "sessions").rglob("rollout-*.jsonl"))
    compactions = sum(1 for line in path.open() if '"type":"compacted"' in line)
    return path, compactions, elapsed


def undeduplicated(path: Path, out: Path) -> None:
    """The same rollout with each placeholder put back to the image it names."""
    images: dict[str, str] = {}
    with path.open() as src, out.open("w") as dst:
        for raw in src:
            line = json.loads(raw)
            payload = line["payload"]
            if line["type"] == "response_item" and payload.get("type") == "message":
                for part in payload.get("content", []):
                    url = part.get("image_url") or ""
                    if url.startswith("data:"):
                        digest = hashlib.sha256(base64.b64decode(url.split(",", 1)[1])).hexdigest()
                        images[digest[:16]] = url
            if line["type"] == "compacted":
                for item in payload.get("replacement_history", []):
                    for part in item.get("content", []) or []:
                        t = part.get("text") or ""
                        if t.startswith("[image not carried over by compaction"):
                            digest = t.rsplit("sha256 ", 1)[1].rstrip("]")
                            part.clear()
                            part.update({"type": "input_image", "image_url": images[digest]})
            dst.write(json.dumps(line, separators=(",", ":")) + "\n")


RESUME = """
import json, resource, sys, time
from pathlib import Path
from threadline.rollout.history import model_history
from threadline.rollout.reader import parse_lines
t = time.perf_counter()
lines, _ = parse_lines(Path(sys.argv[1]).read_bytes())
history = model_history(lines)
elapsed = time.perf_counter() - t
print(json.dumps({"resume_s": round(elapsed, 3), "items": len(history),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def resume(path: Path) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [sys.executable, "-c", RESUME, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return dict(json.loads(out.stdout))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=1000)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--image-kb", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        path, compactions, elapsed = asyncio.run(build(home, args.turns, args.every, args.image_kb))
        copy = Path(tmp) / "undeduplicated.jsonl"
        undeduplicated(path, copy)
        report = {
            "turns": args.turns,
            "compactions": compactions,
            "image_kb": args.image_kb,
            "build_s": round(elapsed, 1),
            "deduplicated": {"rollout_mb": round(path.stat().st_size / 2**20, 1), **resume(path)},
            "without_dedup": {"rollout_mb": round(copy.stat().st_size / 2**20, 1), **resume(copy)},
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
