"""What applying a large patch costs: parse, plan and commit of 100 hunks on a 1 MB file.

    .venv/bin/python bench/patch_apply.py [--runs 7] [--hunks 100] [--size-mb 1]

A scratch directory gets one text file of ``--size-mb`` MB (numbered lines of about
60 bytes) and a patch with ``--hunks`` Update chunks spread evenly over it, each with
an ``@@`` context line, three lines of context around one removed and one added line.
Each run times, separately:

* **parse** — :func:`parse_patch` on the patch text;
* **plan** — :func:`plan_patch`: read the file, locate every chunk, build the new
  content and the ``fileChange`` diff, nothing written;
* **commit** — :func:`commit_changes`: check the file is unchanged, write it (temp
  file + rename), with the rollback bookkeeping;
* **turn diff** — :class:`TurnDiffTracker` rendering the git-style ``turn/diff/updated``
  diff (3 lines of context) of the change.

The file is put back between runs (not timed). Medians over ``--runs`` runs are
printed; the first run is a warm-up and not counted. A final check applies the patch
and compares the result with the content computed independently here.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from threadline.tools.apply_patch import TurnDiffTracker, commit_changes, parse_patch, plan_patch


def build(size_mb: float, hunks: int) -> tuple[bytes, str, bytes]:
    """(original file, patch text, expected file after the patch)."""
    target = int(size_mb * 1024 * 1024)
    lines: list[str] = []
    size = 0
    n = 0
    while size < target:
        line = f"line {n:07d}: the quick brown fox jumps over the lazy dog {n % 97:02d}\n"
        lines.append(line)
        size += len(line)
        n += 1
    step = len(lines) // (hunks + 1)
    parts = ["*** Begin Patch\n*** Update File: big.txt\n"]
    expected = list(lines)
    for h in range(1, hunks + 1):
        at = h * step
        parts.append(f"@@ {lines[at - 4].rstrip()}\n")
        parts.extend(f" {lines[i].rstrip()}\n" for i in range(at - 3, at))
        parts.append(f"-{lines[at].rstrip()}\n+edited hunk {h}\n")
        parts.extend(f" {lines[i].rstrip()}\n" for i in range(at + 1, at + 4))
        expected[at] = f"edited hunk {h}\n"
    parts.append("*** End Patch\n")
    return "".join(lines).encode(), "".join(parts), "".join(expected).encode()


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs (5-200)")
    parser.add_argument("--hunks", type=int, default=100)
    parser.add_argument("--size-mb", type=float, default=1.0)
    args = parser.parse_args()
    if not 5 <= args.runs <= 200:
        parser.error("--runs must be between 5 and 200")
    original, patch, expected = build(args.size_mb, args.hunks)
    parse_t: list[float] = []
    plan_t: list[float] = []
    commit_t: list[float] = []
    turn_t: list[float] = []
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        cwd = Path(tmp)
        big = cwd / "big.txt"
        for run in range(args.runs + 1):
            big.write_bytes(original)
            t0 = time.perf_counter()
            hunks = parse_patch(patch)
            t1 = time.perf_counter()
            changes = plan_patch(hunks, cwd)
            t2 = time.perf_counter()
            commit_changes(changes)
            t3 = time.perf_counter()
            tracker = TurnDiffTracker(display_root=cwd)
            tracker.track(changes)
            if tracker.unified_diff() is None:
                raise SystemExit("no turn diff")
            t4 = time.perf_counter()
            if run == 0:
                continue
            parse_t.append(t1 - t0)
            plan_t.append(t2 - t1)
            commit_t.append(t3 - t2)
            turn_t.append(t4 - t3)
        if big.read_bytes() != expected:
            raise SystemExit("the patched file differs from the expected content")
    line_count = original.count(b"\n")
    print(
        f"apply_patch: {len(original) / 1e6:.2f} MB file ({line_count} lines), "
        f"{args.hunks} hunks, {len(patch) / 1e3:.1f} kB patch, median of {args.runs} runs"
    )
    print(f"  parse   {median_ms(parse_t)}")
    print(f"  plan    {median_ms(plan_t)}")
    print(f"  commit  {median_ms(commit_t)}")
    total = [a + b + c for a, b, c in zip(parse_t, plan_t, commit_t, strict=True)]
    print(f"  total   {median_ms(total)}  (parse + plan + commit)")
    print(f"  turn diff {median_ms(turn_t)}")


if __name__ == "__main__":
    main()
