"""Where the real Codex 0.169 binary is, for the tests that compare with it.

``CODEX_REF_BIN`` names it (``.ci/run`` sets it from ``../shared/tools/codex-ref``);
otherwise the place that script installs it. ``None`` when neither exists."""

from __future__ import annotations

import os
from pathlib import Path

_INSTALL = Path("/var/tmp/codex-ref-0.169.0")


def codex_binary() -> Path | None:
    explicit = os.environ.get("CODEX_REF_BIN")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    found = sorted(_INSTALL.glob("node_modules/@openai/codex-linux-*/vendor/*/bin/codex"))
    return found[0] if found else None
