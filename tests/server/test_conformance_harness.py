"""The schema check every test client applies: it accepts the reference's own traffic
and rejects what the reference schema forbids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.appserver import AppServerClient
from tests.support.schema import SchemaMissingError, SchemaRegistry, SchemaViolation, reference_dir


def trace_files() -> list[Path]:
    return sorted((reference_dir() / "traces").glob("*.jsonl"))


def test_every_reference_trace_message_validates(schema: SchemaRegistry) -> None:
    checked = 0
    for path in trace_files():
        methods: dict[tuple[str, Any], str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            msg = record.get("msg")
            if not isinstance(msg, dict):
                continue
            key = (record["conn"], msg.get("id"))
            if record["dir"] == "c2s" and "method" in msg and "id" in msg:
                methods[key] = msg["method"]
            elif record["dir"] == "s2c":
                method = methods.get(key) if "method" not in msg else None
                schema.validate_s2c(msg, method)
                checked += 1
    assert checked > 500


@pytest.mark.parametrize(
    ("message", "method", "complaint"),
    [
        ({"method": "thread/closed", "params": {"threadId": "t"}}, None, "emittedAtMs"),
        (
            {"method": "thread/nope", "params": {}, "emittedAtMs": 1},
            None,
            "not in ServerNotification",
        ),
        ({"method": "thread/closed", "params": {}, "emittedAtMs": 1}, None, "threadId"),
        (
            {"id": 1, "result": {"data": "x"}},
            "thread/loaded/list",
            "response to thread/loaded/list",
        ),
        ({"jsonrpc": "2.0", "id": 1, "result": {}}, None, "jsonrpc"),
        ({"id": 1, "error": {"code": "x", "message": "m"}}, None, "error"),
        ({"id": 1, "error": {"code": 1, "message": "m"}, "extra": 1}, None, "unexpected members"),
        ({"id": "s", "method": "item/fileChange/requestApproval", "params": {}}, None, "integer"),
        ([1, 2], None, "non-object"),
    ],
)
def test_bad_messages_are_violations(
    schema: SchemaRegistry, message: Any, method: str | None, complaint: str
) -> None:
    with pytest.raises(SchemaViolation, match=complaint):
        schema.validate_s2c(message, method)


async def test_a_client_refuses_to_go_on_after_a_violation() -> None:
    sent: list[str] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    client = AppServerClient("fake", send_text)
    await client.on_text(json.dumps({"method": "thread/closed", "params": {"threadId": "t"}}))
    assert len(client.violations) == 1
    with pytest.raises(SchemaViolation):
        await client.call("thread/loaded/list", {})
    assert sent == []  # the check runs before anything more is sent
    await client.on_text("not json at all")
    assert len(client.violations) == 2


def test_a_missing_reference_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_REFERENCE_DIR", str(tmp_path))
    with pytest.raises(SchemaMissingError, match="reference schema not found"):
        SchemaRegistry()
