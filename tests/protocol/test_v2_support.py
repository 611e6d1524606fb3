"""Schema loading shared by the v2 protocol tests, plus checks of the loader itself.

The reference directory is ``$THREADLINE_REFERENCE_DIR`` when set, else the
Codex 0.169.0 corpus in ``/work/shared/reference``. A missing schema fails the
tests that need it; nothing is skipped.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

# shared/ sits beside the repository checkout (locally and in CI).
REPO_SIBLING_REFERENCE = Path(__file__).resolve().parents[3] / "shared/reference/codex-0.169.0"
DEFAULT_REFERENCE = Path("/work/shared/reference/codex-0.169.0")


def reference_dir() -> Path:
    env = os.environ.get("THREADLINE_REFERENCE_DIR")
    if env:
        return Path(env)
    if REPO_SIBLING_REFERENCE.is_dir():
        return REPO_SIBLING_REFERENCE
    return DEFAULT_REFERENCE


@cache
def v2_definitions() -> dict[str, Any]:
    path = reference_dir() / "schema" / "codex_app_server_protocol.v2.schemas.json"
    assert path.is_file(), f"reference schema missing: {path}"
    defs: dict[str, Any] = json.loads(path.read_text())["definitions"]
    return defs


@cache
def validator_for(name: str) -> Draft7Validator:
    """A validator for one schema definition, with ``$ref`` resolved in its own file."""
    defs = v2_definitions()
    if name in defs:
        return Draft7Validator({"$ref": f"#/definitions/{name}", "definitions": defs})
    schema_dir = reference_dir() / "schema"
    for folder in (schema_dir, schema_dir / "v2", schema_dir / "v1"):
        path = folder / f"{name}.json"
        if path.is_file():
            return Draft7Validator(json.loads(path.read_text()))
    raise AssertionError(f"no schema definition named {name}")


def schema_errors(name: str, value: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator_for(name).iter_errors(value)
    ]


def test_reference_schema_is_present_and_complete() -> None:
    defs = v2_definitions()
    assert len(defs) >= 500
    for name in ("Thread", "Turn", "ThreadItem", "UserInput", "TokenUsageBreakdown"):
        assert name in defs


def test_validator_finds_definitions_outside_the_v2_bundle() -> None:
    # Server-request params live in their own files, initialize in v1/.
    assert schema_errors("McpServerElicitationRequestResponse", {"action": "decline"}) == []
    assert schema_errors("McpServerElicitationRequestResponse", {"action": "maybe"})
    with pytest.raises(AssertionError, match="no schema definition"):
        validator_for("NoSuchDefinitionAnywhere")


def test_validator_rejects_what_the_schema_rejects() -> None:
    good = {"threadId": "t", "status": {"type": "active", "activeFlags": []}}
    assert schema_errors("ThreadStatusChangedNotification", good) == []
    bad = {"threadId": "t", "status": {"type": "busy"}}
    assert schema_errors("ThreadStatusChangedNotification", bad)


def definition_exists(name: str) -> bool:
    """Whether ``name`` is a definition in the v2 bundle or a schema file of its own."""
    if name in v2_definitions():
        return True
    schema_dir = reference_dir() / "schema"
    folders = (schema_dir, schema_dir / "v2", schema_dir / "v1")
    return any((folder / f"{name}.json").is_file() for folder in folders)
