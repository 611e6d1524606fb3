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


CODEX_CONFIG = """\
model = "mock-model"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "workspace-write"
check_for_update_on_startup = false

[model_providers.mock]
name = "Mock Responses"
base_url = "{base_url}"
wire_api = "responses"
env_key = "MOCK_OPENAI_API_KEY"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 60000

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
"""
"""A Codex home's ``config.toml`` for the mock model at ``{base_url}`` (format it): no update
checks, analytics, feedback, plugins or apps, so the binary talks only to the mock."""
