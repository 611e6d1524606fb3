"""Time of ``fuzzyFileSearch`` queries on a generated 100k-file tree.

    .venv/bin/python bench/fuzzy_search.py [--files 100000] [--repeat 3]

Builds, in a temp dir, a git-style tree of ``--files`` empty files (nested 4 levels,
source-like names, a ``.gitignore`` that leaves out a ``build/`` directory of another
10% of files), then runs a few queries through the core search
(:func:`threadline.core.fuzzy_search.search`, what the handler calls in a worker
thread) ``--repeat`` times each and prints the best and the median wall time, the
number of results and the top match. The tree is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time

from threadline.core.fuzzy_search import search

WORDS = [
    "app",
    "server",
    "client",
    "model",
    "view",
    "util",
    "config",
    "thread",
    "turn",
    "store",
    "index",
    "event",
    "handler",
    "router",
    "session",
    "widget",
    "parser",
    "render",
    "schema",
    "cache",
    "queue",
    "worker",
    "auth",
    "token",
    "stream",
]
EXTS = [".py", ".rs", ".ts", ".md", ".json", ".go"]


def build(root: str, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(os.path.join(root, ".gitignore"), "w") as fh:
        fh.write("build/\n*.tmp\n")
    per_dir = 50
    made = 0
    while made < files:
        parts = [f"{rng.choice(WORDS)}_{rng.randrange(20)}" for _ in range(rng.randint(2, 4))]
        directory = os.path.join(root, "src", *parts)
        os.makedirs(directory, exist_ok=True)
        for _ in range(per_dir):
            name = f"{rng.choice(WORDS)}{rng.choice(WORDS).title()}{rng.randrange(1000)}"
            open(os.path.join(directory, name + rng.choice(EXTS)), "w").close()
            made += 1
    ignored = os.path.join(root, "build", "out")
    os.makedirs(ignored, exist_ok=True)
    for n in range(files // 10):
        open(os.path.join(ignored, f"artifact{n}.o"), "w").close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="threadline-fuzzy-", dir="/var/tmp")
    try:
        t0 = time.perf_counter()
        build(root, args.files)
        print(
            f"tree: {args.files} files (+{args.files // 10} ignored) in {time.perf_counter() - t0:.1f}s"
        )
        for query in ["handler", "srvcfg", "thread turn", "zzzzq", "appServer42"]:
            times = []
            results = []
            for _ in range(max(1, min(args.repeat, 20))):
                t = time.perf_counter()
                results = search(query, [root])
                times.append(time.perf_counter() - t)
            top = results[0].path if results else "-"
            print(
                f"{query!r:16} best {min(times) * 1000:7.0f} ms  median "
                f"{statistics.median(times) * 1000:7.0f} ms  results {len(results):3}  top {top}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
