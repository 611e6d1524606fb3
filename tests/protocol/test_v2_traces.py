"""Every message in the reference traces that threadline models parses and round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from test_v2_support import reference_dir, schema_errors

from threadline.protocol.methods import CLIENT_REQUESTS, SERVER_NOTIFICATIONS, SERVER_REQUESTS
from threadline.protocol.v2 import dump_wire


def trace_files() -> list[Path]:
    files = sorted((reference_dir() / "traces").glob("*.jsonl"))
    assert files, f"no traces under {reference_dir() / 'traces'}"
    return files


def load_trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def modeled_messages(path: Path) -> list[tuple[str, str, type[BaseModel], Any]]:
    """(label, direction, model, payload) for every message whose payload we model."""
    out: list[tuple[str, str, type[BaseModel], Any]] = []
    pending: dict[tuple[str, str, Any], str] = {}  # (conn, requester dir, id) -> method
    for rec in load_trace(path):
        direction, msg = rec.get("dir"), rec.get("msg")
        if direction not in ("c2s", "s2c") or not isinstance(msg, dict):
            continue
        conn, method = rec.get("conn", ""), msg.get("method")
        label = f"{path.name}#{rec.get('seq')} {method or 'response'}"
        if isinstance(method, str) and "id" in msg:
            pending[(conn, direction, msg["id"])] = method
            if direction == "c2s" and method in CLIENT_REQUESTS:
                out.append((label, "c2s", CLIENT_REQUESTS[method][0], msg.get("params")))
            if direction == "s2c" and method in SERVER_REQUESTS:
                out.append((label, "s2c", SERVER_REQUESTS[method][0], msg.get("params")))
        elif isinstance(method, str):
            if direction == "s2c" and method in SERVER_NOTIFICATIONS:
                out.append((label, "s2c", SERVER_NOTIFICATIONS[method], msg.get("params")))
        elif "result" in msg:
            requester = "s2c" if direction == "c2s" else "c2s"
            req_method = pending.get((conn, requester, msg.get("id")))
            if req_method is None:
                continue
            label = f"{path.name}#{rec.get('seq')} {req_method} result"
            if direction == "s2c" and req_method in CLIENT_REQUESTS:
                response = CLIENT_REQUESTS[req_method][1]
                if response is not None:
                    out.append((label, "s2c", response, msg["result"]))
            if direction == "c2s" and req_method in SERVER_REQUESTS:
                out.append((label, "c2s", SERVER_REQUESTS[req_method][1], msg["result"]))
    return out


def strip_unmodeled(original: Any, dumped: Any) -> Any:
    """``original`` restricted to the keys ``dumped`` has (members we do not model)."""
    if isinstance(original, dict) and isinstance(dumped, dict):
        return {k: strip_unmodeled(v, dumped[k]) for k, v in original.items() if k in dumped}
    if isinstance(original, list) and isinstance(dumped, list) and len(original) == len(dumped):
        return [strip_unmodeled(o, d) for o, d in zip(original, dumped, strict=True)]
    return original


def drop_added_nulls(dumped: Any, original: Any) -> Any:
    """``dumped`` minus null members that the original left out (absent == null)."""
    if isinstance(original, dict) and isinstance(dumped, dict):
        return {
            k: drop_added_nulls(v, original.get(k))
            for k, v in dumped.items()
            if k in original or v is not None
        }
    if isinstance(original, list) and isinstance(dumped, list) and len(original) == len(dumped):
        return [drop_added_nulls(d, o) for d, o in zip(dumped, original, strict=True)]
    return dumped


ALL_TRACES = trace_files()


def test_traces_cover_the_core_surface() -> None:
    methods = {
        model.__name__
        for path in ALL_TRACES
        for _, direction, model, _ in modeled_messages(path)
        if direction == "s2c"
    }
    for expected in (
        "ThreadStartResponse",
        "ThreadResumeResponse",
        "ThreadForkResponse",
        "ThreadListResponse",
        "ThreadReadResponse",
        "TurnStartResponse",
        "ItemStartedNotification",
        "ItemCompletedNotification",
        "TurnCompletedNotification",
        "ThreadTokenUsageUpdatedNotification",
        "CommandExecutionRequestApprovalParams",
    ):
        assert expected in methods


@pytest.mark.parametrize("path", ALL_TRACES, ids=lambda p: p.stem)
def test_server_messages_round_trip(path: Path) -> None:
    checked = 0
    for label, direction, model, payload in modeled_messages(path):
        if direction != "s2c":
            continue
        parsed = model.model_validate(payload)
        dumped = dump_wire(parsed)
        errors = schema_errors(model.__name__, dumped)
        assert not errors, f"{label}: dump does not validate: {errors[:5]}"
        expected = strip_unmodeled(payload, dumped)
        assert drop_added_nulls(dumped, payload) == expected, label
        checked += 1
    assert checked > 0


def contains(outer: Any, inner: Any) -> bool:
    """Whether ``outer`` holds every member of ``inner`` with the same value."""
    if isinstance(inner, dict):
        return isinstance(outer, dict) and all(
            k in outer and contains(outer[k], v) for k, v in inner.items()
        )
    if isinstance(inner, list):
        return (
            isinstance(outer, list)
            and len(outer) == len(inner)
            and all(contains(o, i) for o, i in zip(outer, inner, strict=True))
        )
    return bool(outer == inner)


def client_requests(path: Path) -> list[tuple[str, str, Any, dict[str, Any] | None]]:
    """(label, method, params, server reply) for every client request in a trace."""
    requests: dict[tuple[str, Any], tuple[str, str, Any]] = {}
    replies: dict[tuple[str, Any], dict[str, Any]] = {}
    for rec in load_trace(path):
        msg, conn = rec.get("msg"), rec.get("conn", "")
        if not isinstance(msg, dict) or "id" not in msg:
            continue
        if rec.get("dir") == "c2s" and isinstance(msg.get("method"), str):
            label = f"{path.name}#{rec.get('seq')} {msg['method']}"
            requests[(conn, msg["id"])] = (label, msg["method"], msg.get("params"))
        elif rec.get("dir") == "s2c" and "method" not in msg:
            replies.setdefault((conn, msg["id"]), msg)
    return [(*req, replies.get(key)) for key, req in requests.items()]


@pytest.mark.parametrize("path", ALL_TRACES, ids=lambda p: p.stem)
def test_client_requests_parse_like_codex(path: Path) -> None:
    """Params Codex accepted parse; params Codex rejected as malformed fail to parse."""
    for label, method, params, reply in client_requests(path):
        if method not in CLIENT_REQUESTS or reply is None:
            continue
        model = CLIENT_REQUESTS[method][0]
        error = reply.get("error") or {}
        if str(error.get("message", "")).startswith("Invalid request:"):
            with pytest.raises(ValidationError):
                model.model_validate(params)
            continue
        parsed = model.model_validate(params)
        # Every member the client sent is kept (defaults may add members).
        assert contains(dump_wire(parsed), params), label


def test_client_replies_to_server_requests_parse() -> None:
    checked = 0
    for path in ALL_TRACES:
        for label, direction, model, payload in modeled_messages(path):
            if direction == "c2s" and label.endswith(" result"):
                parsed = model.model_validate(payload)
                assert dump_wire(parsed) == payload, label
                checked += 1
    assert checked >= 2  # the accept and the decline of s03
