"""``python -m threadline.tools.apply_patch --cwd DIR``: apply the patch on stdin.

Prints one JSON line and exits 0 on success::

    {"ok": true, "changes": [{"path", "kind", "move_path", "diff"}...], "output": "Success. ..."}

or 1 on failure (nothing written)::

    {"ok": false, "error": "...", "path": ..., "line": ..., "stage": "parse|empty|plan|commit",
     "model_text": "apply_patch verification failed: ..."}

Only the standard library and this package are imported, so it starts fast inside the
sandbox, where the write then obeys the sandbox's rules.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from threadline.tools.apply_patch.apply import apply_patch_text, success_text
from threadline.tools.apply_patch.parser import PatchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m threadline.tools.apply_patch")
    parser.add_argument("--cwd", required=True, type=Path, help="directory relative paths use")
    args = parser.parse_args(argv)
    text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    try:
        changes = apply_patch_text(text, args.cwd)
    except PatchError as err:
        result: dict[str, object] = {
            "ok": False,
            "error": err.message,
            "path": err.path,
            "line": err.line,
            "stage": err.stage,
            "model_text": err.for_model(),
        }
        print(json.dumps(result), flush=True)
        return 1
    out = {
        "ok": True,
        "changes": [
            {
                "path": str(c.path),
                "kind": c.kind,
                "move_path": None if c.move_path is None else str(c.move_path),
                "diff": c.unified_diff,
            }
            for c in changes
        ],
        "output": success_text(changes, args.cwd),
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
