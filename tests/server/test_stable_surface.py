"""Every client request of the 0.169 stable schema (``ClientRequest.json``), sent to the real
app-server (in-process, against the mock model) with small valid params: each gets a
schema-valid result, or -- only for methods tied to a ChatGPT account, OpenAI's plugin
marketplace and apps, or Windows -- the documented refusal (``-32600``, ``not supported by
threadline: <why>``, ``data: {"unsupported": <method>}``). None gets -32601.

Methods whose implementation had not landed when this walk was written are listed in
:data:`PENDING`: their outcome is printed (``pytest -s``), not asserted. Drop an entry once its
method answers; the walk then holds it to the same rule as the others.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from tests.support.appserver import AppServerClient
from tests.support.memory_server import InProcessServer, MemoryServerFactory
from tests.support.mock_model import Gate, MockModel, text
from tests.support.schema import SchemaRegistry, SchemaViolation, schema_dir

TOOLBOX = str(Path(__file__).resolve().parents[1] / "support" / "mcp_servers" / "toolbox.py")

REFUSED = {
    "marketplace/add",
    "marketplace/remove",
    "plugin/read",
    "plugin/skill/read",
    "plugin/share/save",
    "plugin/share/updateTargets",
    "plugin/share/checkout",
    "plugin/share/delete",
    "plugin/install",
    "plugin/uninstall",
    "account/gatewayOAuth/login",
    "account/gatewayOAuth/cancel",
    "windowsSandbox/setupStart",
    "windowsSandbox/readiness",
    "account/securitySetup/read",
    "account/rateLimitResetCredit/consume",
    "account/sendAddCreditsNudgeEmail",
    "feedback/upload",
}
"""Answered ``not supported by threadline`` (the README's table says why, method by method)."""

EMPTY_LISTS = {
    "plugin/list": "marketplaces",
    "plugin/installed": "marketplaces",
    "plugin/reconcile": "changedPlugins",
    "plugin/share/list": "data",
    "marketplace/upgrade": "upgradedRoots",
    "app/list": "data",
    "app/installed": "apps",
    "app/read": "apps",
    "account/workspaceMessages/read": "messages",
}
"""Answered with an empty list (the member named here), for the same reasons."""

EXPECTED_ERRORS = {
    "account/login/cancel": "invalid login id: none",
    "mcpServer/oauth/login": "OAuth login is only supported for streamable HTTP servers.",
}
"""Errors a valid request gets, as Codex answers it: an API-key login never stays pending; the
walk's MCP server is a stdio one (the OAuth flow itself: tests/e2e/test_mcp_oauth.py)."""

PENDING: dict[str, str] = {}
"""Methods still being implemented: printed, not asserted."""

NO_PARAMS = object()
"""Send the request without ``params`` (methods whose params the schema types as null)."""

MISSING_RESPONSE_NAMES = {
    "account/workspaceMessages/read": "GetWorkspaceMessagesResponse",
    "externalAgentConfig/import/readHistories": "ExternalAgentConfigImportHistoriesReadResponse",
    "windowsSandbox/readiness": "WindowsSandboxReadinessResponse",
    "account/securitySetup/read": "GetAccountSecuritySetupResponse",
    "account/gatewayOAuth/cancel": "GatewayOAuthCancelResponse",
}
"""Null-params methods whose response definition the harness cannot derive from the params
name (``tests/support/schema.py``'s ``_RESPONSE_OVERRIDES`` should list them)."""


def schema_methods() -> list[str]:
    doc = json.loads((schema_dir() / "ClientRequest.json").read_text(encoding="utf-8"))
    return [str(v["properties"]["method"]["enum"][0]) for v in doc["oneOf"]]


class Walk:
    """Sends each request and notes what it got."""

    def __init__(self, server: InProcessServer) -> None:
        self.server = server
        self.client: AppServerClient = server.client
        self.outcomes: dict[str, str] = {"initialize": "ok"}
        self.results: dict[str, Any] = {}

    async def fresh_client(self) -> AppServerClient:
        if self.client.violations or self.client.closed:
            self.client = await self.server.connect()
        return self.client

    async def __call__(self, method: str, params: Any = None, *, timeout: float = 30) -> Any:
        client = await self.fresh_client()
        omit = params is NO_PARAMS
        try:
            answer = await client.call(
                method, None if omit else params, timeout=timeout, omit_params=omit
            )
        except SchemaViolation as exc:
            self.outcomes[method] = f"schema violation: {exc}"
            if method in PENDING:  # its bad answer is its own failure, not the walk's
                client.violations.clear()
            return None
        except TimeoutError:
            self.outcomes[method] = "no answer"
            return None
        self.outcomes[method] = classify(method, answer)
        self.results[method] = answer.get("result")
        return answer.get("result")


def classify(method: str, answer: dict[str, Any]) -> str:
    if "result" in answer:
        return "ok"
    error = answer.get("error") or {}
    if (
        error.get("code") == -32600
        and str(error.get("message", "")).startswith("not supported by threadline: ")
        and error.get("data") == {"unsupported": method}
    ):
        return "refused"
    return f"error {error.get('code')}: {error.get('message')}"


def expected(method: str) -> str:
    if method in REFUSED:
        return "refused"
    if method in EXPECTED_ERRORS:
        return f"error -32600: {EXPECTED_ERRORS[method]}"
    return "ok"


@pytest.fixture
def named_responses(schema: SchemaRegistry) -> None:
    for method, name in MISSING_RESPONSE_NAMES.items():
        if schema.client_methods.get(method) is None:
            schema.client_methods[method] = name


def home_for(tmp_path: Path, mock: MockModel) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model_provider = "mock"\nmodel = "mock-model"\napproval_policy = "never"\n'
        'sandbox_mode = "workspace-write"\n'
        "[model_providers.mock]\n"
        f'name = "Mock"\nbase_url = "{mock.base_url}"\nwire_api = "responses"\n'
        "request_max_retries = 0\n"
        "[mcp_servers.box]\n"
        f"command = {json.dumps(sys.executable)}\nargs = [{json.dumps(TOOLBOX)}]\n",
        encoding="utf-8",
    )
    return home


async def walk_without_threads(call: Walk, tmp_path: Path, mock: MockModel) -> None:
    await call("config/read", {})
    await call("configRequirements/read", NO_PARAMS)
    await call("experimentalFeature/list", {})
    await call("experimentalFeature/enablement/set", {"enablement": {}})
    await call("permissionProfile/list", {})
    await call(
        "config/value/write", {"keyPath": "tui.theme", "value": "dark", "mergeStrategy": "upsert"}
    )
    await call(
        "config/batchWrite",
        {"edits": [{"keyPath": "tui.animations", "value": False, "mergeStrategy": "replace"}]},
    )
    await call("modelProvider/list", {})
    await call("modelProvider/capabilities/read", {})
    await call(
        "modelProvider/config/write",
        {"settings": {"type": "customGateway", "name": "Walk", "baseUrl": mock.base_url}},
    )
    await call("account/read", {})
    await call("account/login/start", {"type": "apiKey", "apiKey": "sk-walk"})
    await call("account/rateLimits/read", NO_PARAMS)
    await call("account/usage/read", NO_PARAMS)
    await call("account/login/cancel", {"loginId": "none"})
    await call("account/logout", NO_PARAMS)
    await call("model/list", {})
    await call("externalAgentConfig/detect", {})
    await call("externalAgentConfig/import", {"migrationItems": []})
    await call(
        "externalAgentConfig/import/recordHistory", {"providerId": "walk", "itemTypeResults": []}
    )
    await call("externalAgentConfig/import/readHistories", NO_PARAMS)

    await call("marketplace/add", {"source": "https://example.invalid/market.git"})
    await call("marketplace/remove", {"marketplaceName": "market"})
    await call("marketplace/upgrade", {})
    await call("plugin/list", {})
    await call("plugin/installed", {})
    await call("plugin/reconcile", {})
    await call("plugin/read", {"pluginName": "p"})
    await call(
        "plugin/skill/read", {"remoteMarketplaceName": "m", "remotePluginId": "r", "skillName": "s"}
    )
    await call("plugin/share/save", {"pluginPath": str(tmp_path)})
    await call(
        "plugin/share/updateTargets",
        {"discoverability": "PRIVATE", "remotePluginId": "r", "shareTargets": []},
    )
    await call("plugin/share/list", {})
    await call("plugin/share/checkout", {"remotePluginId": "r"})
    await call("plugin/share/delete", {"remotePluginId": "r"})
    await call("plugin/install", {"pluginName": "p"})
    await call("plugin/uninstall", {"pluginId": "p"})
    await call("app/read", {"appIds": ["a"]})
    await call("app/list", {})
    await call("app/installed", {})
    await call("account/gatewayOAuth/read", {})
    await call("account/gatewayOAuth/login", {})
    await call("account/gatewayOAuth/cancel", NO_PARAMS)
    await call("windowsSandbox/setupStart", {"mode": "unelevated"})
    await call("windowsSandbox/readiness", NO_PARAMS)
    await call("account/securitySetup/read", NO_PARAMS)
    await call("account/rateLimitResetCredit/consume", {"idempotencyKey": "k"})
    await call("account/workspaceMessages/read", NO_PARAMS)
    await call("account/sendAddCreditsNudgeEmail", {"creditType": "credits"})
    await call("feedback/upload", {"classification": "bug"})

    await call("skills/list", {})
    await call("skills/extraRoots/set", {"extraRoots": []})
    await call("skills/config/write", {"enabled": True, "name": "no-such-skill"})
    await call("hooks/list", {})

    await call("mcpServerStatus/list", {})
    await call("config/mcpServer/reload", NO_PARAMS)
    await call("mcpServer/oauth/login", {"name": "box"})


async def wait_turn(call: Walk) -> None:
    await call.client.wait_for_notification("turn/completed", timeout=30)


async def walk_with_threads(call: Walk, tmp_path: Path, mock: MockModel) -> None:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    started = await call("thread/start", {"cwd": str(work)})
    assert started is not None, call.outcomes["thread/start"]
    tid = started["thread"]["id"]
    mock.enqueue(text("first answer"))
    turn = await call("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "one"}]})
    first_turn = turn["turn"]["id"] if turn else ""
    await wait_turn(call)
    # the connection may touch the files under its threads' cwds
    f, f2, d = work / "walk.txt", work / "walk-copy.txt", work / "made"
    await call("fs/writeFile", {"path": str(f), "dataBase64": "aGkK"})
    await call("fs/readFile", {"path": str(f)})
    await call("fs/createDirectory", {"path": str(d)})
    await call("fs/getMetadata", {"path": str(f)})
    await call("fs/readDirectory", {"path": str(work)})
    await call("fs/copy", {"sourcePath": str(f), "destinationPath": str(f2)})
    await call("fs/watch", {"path": str(work), "watchId": "walk"})
    await call("fs/unwatch", {"watchId": "walk"})
    await call("fs/remove", {"path": str(f2)})
    await call("fuzzyFileSearch", {"query": "walk", "roots": [str(work)]})

    await call("thread/read", {"threadId": tid, "includeTurns": True})
    await call("thread/list", {})
    await call("thread/loaded/list", {})
    await call("thread/turns/list", {"threadId": tid})
    await call("thread/items/list", {"threadId": tid})
    await call("thread/name/set", {"threadId": tid, "name": "walked"})
    await call("thread/metadata/update", {"threadId": tid, "gitInfo": {"branch": "walk"}})
    await call("thread/goal/set", {"threadId": tid, "objective": "walk the surface"})
    await call("thread/goal/get", {"threadId": tid})
    await call("thread/goal/clear", {"threadId": tid})
    key = {"attachmentType": "note", "identityKey": "walk-1"}
    await call("thread/attachment/add", {"threadId": tid, **key, "payload": {"text": "x"}})
    await call("thread/attachment/list", {"threadId": tid})
    await call("thread/attachmentOwner/list", key)
    await call("thread/attachment/remove", {"threadId": tid, **key})
    section = await call("threadSection/create", {"name": "Walk"})
    section_id = section["section"]["id"] if section else "none"
    await call("threadSection/list", {})
    await call("threadSection/update", {"sectionId": section_id, "name": "Walked"})
    await call("thread/section/move", {"threadId": tid, "sectionId": section_id})
    await call("threadSection/delete", {"sectionId": section_id})
    await call(
        "thread/inject_items",
        {
            "threadId": tid,
            "items": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "x"}],
                }
            ],
        },
    )

    gate = Gate()
    mock.enqueue(text("held answer", gate=gate))
    held = await call("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "2"}]})
    held_id = held["turn"]["id"] if held else ""
    await call(
        "turn/steer",
        {"threadId": tid, "expectedTurnId": held_id, "input": [{"type": "text", "text": "more"}]},
    )
    await call("turn/interrupt", {"threadId": tid, "turnId": held_id})
    await wait_turn(call)
    gate.set()

    client = await call.fresh_client()
    exec_id = client.new_id()
    await client.send(
        {
            "id": exec_id,
            "method": "command/exec",
            "params": {
                "command": ["cat"],
                "processId": "walk",
                "tty": True,
                "sandboxPolicy": {"type": "dangerFullAccess"},
            },
        }
    )
    await call("command/exec/write", {"processId": "walk", "deltaBase64": "aGkK"})
    await call("command/exec/resize", {"processId": "walk", "size": {"rows": 10, "cols": 40}})
    await call("command/exec/terminate", {"processId": "walk"})
    exec_answer = await client.wait_for_answer(exec_id, timeout=30)
    call.outcomes["command/exec"] = classify("command/exec", exec_answer)
    await call("thread/shellCommand", {"threadId": tid, "command": "true"})
    await wait_turn(call)
    await call(
        "mcpServer/tool/call",
        {"threadId": tid, "server": "box", "tool": "echo", "arguments": {"text": "walk"}},
    )
    await call(
        "mcpServer/resource/read", {"threadId": tid, "server": "box", "uri": "memo://greeting"}
    )
    mock.enqueue(text("a hand-off note"))
    await call("thread/compact/start", {"threadId": tid})
    await wait_turn(call)
    mock.enqueue(text("no findings"))
    if await call(
        "review/start", {"threadId": tid, "target": {"type": "custom", "instructions": "look"}}
    ):
        await wait_turn(call)
    await call("thread/approveGuardianDeniedAction", {"threadId": tid, "event": {"id": "g-1"}})
    await call(
        "feedback/save",
        {"classification": "bug", "threadId": tid, "savePath": str(work / "feedback.zip")},
    )

    forked = await call("thread/fork", {"threadId": tid})
    fork_id = forked["thread"]["id"] if forked else "none"
    await call("thread/unsubscribe", {"threadId": tid})
    await call("thread/resume", {"threadId": tid})
    await call("thread/archive", {"threadId": fork_id})
    await call("thread/unarchive", {"threadId": fork_id})
    await call("thread/revert", {"threadId": tid, "beforeTurnId": first_turn})
    await call("thread/delete", {"threadId": fork_id})


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("named_responses")
async def test_every_stable_method_answers_or_is_refused_as_documented(
    tmp_path: Path, memory_server: MemoryServerFactory
) -> None:
    methods = schema_methods()
    assert len(methods) == 109
    assert set(PENDING) <= set(methods) and REFUSED <= set(methods)
    assert set(EMPTY_LISTS) <= set(methods) and not set(EMPTY_LISTS) & REFUSED
    with MockModel() as mock:
        server = await memory_server(home=home_for(tmp_path, mock), test_methods=False)
        call = Walk(server)
        await walk_without_threads(call, tmp_path, mock)
        await walk_with_threads(call, tmp_path, mock)

        for method, member in EMPTY_LISTS.items():
            if call.outcomes.get(method) == "ok":
                assert call.results[method][member] == [], method
        check_null_params_responses(call)

    print("\nstable surface walk:")
    for method in methods:
        mark = " (pending)" if method in PENDING else ""
        print(f"  {method}: {call.outcomes.get(method, 'not sent')}{mark}")
    assert set(call.outcomes) == set(methods), set(methods) - set(call.outcomes)
    wrong = {
        m: call.outcomes[m] for m in methods if m not in PENDING and call.outcomes[m] != expected(m)
    }
    assert wrong == {}
    unknown = [m for m, o in call.outcomes.items() if m not in PENDING and "-32601" in o]
    assert unknown == []


def check_null_params_responses(call: Walk) -> None:
    """The answers the harness had no definition for are checked against the schema here."""
    defs = json.loads(
        (schema_dir() / "codex_app_server_protocol.v2.schemas.json").read_text(encoding="utf-8")
    )["definitions"]
    check: Callable[[str, Any], list[str]] = lambda name, value: [  # noqa: E731
        e.message
        for e in Draft7Validator(
            {"$ref": f"#/definitions/{name}", "definitions": defs}
        ).iter_errors(value)
    ]
    for method, name in MISSING_RESPONSE_NAMES.items():
        if call.outcomes.get(method) == "ok":
            assert check(name, call.results[method]) == [], method
