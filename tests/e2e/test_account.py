"""The API-key account methods over the real stdio app-server against the mock model:
login stores the key like Codex's auth.json (0600) and the openai provider then sends it;
logout removes it; rate limits come from the provider's x-ratelimit headers; usage from the
recorded token counts; ChatGPT logins are refused."""

from __future__ import annotations

import json
import stat
import time
from dataclasses import replace
from pathlib import Path

from tests.e2e.conftest import StartClient
from tests.support.mock_model import MockModel, http_error, text, usage

NO_KEY = {"OPENAI_API_KEY": ""}


async def test_api_key_login_is_stored_and_used_then_logout_removes_it(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client(env={**NO_KEY, "OPENAI_BASE_URL": mock_model.base_url})
    # The mock provider needs no OpenAI auth: no account, as Codex answers.
    assert await client.request("account/read", {}) == {
        "account": None,
        "userId": None,
        "requiresOpenaiAuth": False,
    }
    assert await client.request(
        "account/login/start", {"type": "apiKey", "apiKey": "sk-threadline-test"}
    ) == {"type": "apiKey"}
    done = await client.wait_for_notification("account/login/completed")
    assert done["params"]["success"] is True and done["params"]["loginId"] is None
    updated = await client.wait_for_notification("account/updated")
    assert updated["params"]["authMode"] == "apikey"

    auth = mock_home / "auth.json"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    assert json.loads(auth.read_text()) == {
        "auth_mode": "apikey",
        "OPENAI_API_KEY": "sk-threadline-test",
    }

    await client.request(
        "config/value/write",
        {"keyPath": "model_provider", "value": "openai", "mergeStrategy": "replace"},
    )
    assert await client.request("account/read", {}) == {
        "account": {"type": "apiKey"},
        "userId": None,
        "requiresOpenaiAuth": True,
    }
    # A thread on the built-in openai provider (pointed at the mock) sends the stored key.
    mock_model.enqueue(text("hello from openai"))
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "hi"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    assert mock_model.requests[-1].headers["authorization"] == "Bearer sk-threadline-test"

    assert await client.request("account/logout") == {}
    logged_out = await client.wait_for_notification(
        "account/updated", predicate=lambda p: p.get("authMode") is None
    )
    assert logged_out["params"]["authMode"] is None
    assert not auth.exists()
    assert (await client.request("account/read", {}))["account"] is None


async def test_refused_and_bad_logins(start_client: StartClient, mock_home: Path) -> None:
    client = await start_client()
    error = await client.request_error("account/login/start", {"type": "chatgpt"})
    assert error["code"] == -32600
    assert error["message"].startswith("not supported by threadline: ")
    assert error["data"] == {"unsupported": "account/login/start"}
    error = await client.request_error("account/login/start", {"type": "apiKey"})
    assert error["code"] == -32600 and "apiKey" in error["message"]
    error = await client.request_error("account/login/start", {"type": "apiKey", "apiKey": " "})
    assert error["code"] == -32600
    error = await client.request_error("account/login/cancel", {"loginId": "nope"})
    assert error == {"code": -32600, "message": "invalid login id: nope"}
    assert not (mock_home / "auth.json").exists()
    gateway = await client.request("account/gatewayOAuth/read", {})
    assert gateway == {
        "providerId": "mock",
        "providerName": "Mock Responses",
        "required": False,
        "status": None,
        "error": None,
        "supportsDeviceAuth": False,
    }
    error = await client.request_error("account/gatewayOAuth/login", {})
    assert error["data"] == {"unsupported": "account/gatewayOAuth/login"}


async def test_rate_limits_from_headers_and_recorded_usage(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client()
    empty = await client.request("account/rateLimits/read")
    assert empty["rateLimits"]["primary"] is None and empty["rateLimits"]["secondary"] is None
    headers = (
        ("x-ratelimit-limit-requests", "200"),
        ("x-ratelimit-remaining-requests", "150"),
        ("x-ratelimit-reset-requests", "1m30s"),
        ("x-ratelimit-limit-tokens", "10000"),
        ("x-ratelimit-remaining-tokens", "9000"),
        ("x-ratelimit-reset-tokens", "600ms"),
    )
    mock_model.enqueue(replace(text("limited", usage=usage(input=100, output=20)), headers=headers))
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    before = int(time.time())
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "x"}]})
    done = await client.wait_for_notification("turn/completed", timeout=20)
    assert done["params"]["turn"]["status"] == "completed", done
    assert len(mock_model.requests) == 1
    limits = (await client.request("account/rateLimits/read"))["rateLimits"]
    assert limits["limitId"] == "mock", limits
    assert limits["primary"]["usedPercent"] == 25
    assert before + 89 <= limits["primary"]["resetsAt"] <= int(time.time()) + 91
    assert limits["secondary"]["usedPercent"] == 10

    total = (await client.request("account/usage/read"))["summary"]["lifetimeTokens"]
    assert total == 120
    one = await client.request("account/usage/read", {"threadId": tid})
    assert one["summary"]["lifetimeTokens"] == 120


async def test_login_replaces_a_planted_auth_symlink_without_following_it(
    start_client: StartClient, mock_home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    (mock_home / "auth.json").symlink_to(victim)
    client = await start_client()
    await client.request("account/login/start", {"type": "apiKey", "apiKey": "sk-x"})
    auth = mock_home / "auth.json"
    assert not auth.is_symlink()
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    assert json.loads(auth.read_text())["OPENAI_API_KEY"] == "sk-x"
    assert victim.read_text() == "untouched\n"
    await client.request("account/logout")
    assert not auth.exists() and victim.read_text() == "untouched\n"


async def test_rate_limits_of_a_refused_request(
    start_client: StartClient, mock_model: MockModel, tmp_path: Path
) -> None:
    client = await start_client()
    headers = (
        ("x-codex-primary-used-percent", "100"),
        ("x-codex-primary-window-minutes", "300"),
        ("x-codex-primary-reset-at", "1900000000"),
    )
    mock_model.set_default(replace(http_error(429, retry_after=0), headers=headers))
    tid = (await client.request("thread/start", {"cwd": str(tmp_path)}))["thread"]["id"]
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "x"}]})
    await client.wait_for_notification("turn/completed", timeout=30)
    limits = (await client.request("account/rateLimits/read"))["rateLimits"]
    assert limits["primary"] == {
        "usedPercent": 100,
        "windowDurationMins": 300,
        "resetsAt": 1900000000,
    }
