"""Ask the real Codex which models it knows and which tools it offers each of them.

Runs ``codex app-server`` (the binary ``../shared/tools/codex-ref`` prints) over stdio
with a throw-away CODEX_HOME whose only model provider is the repository's mock model
(``tests/support/mock_model.py``) on 127.0.0.1, so nothing reaches the network. It

1. asks ``model/list`` (without and with ``includeHidden``, following ``nextCursor``);
2. for every listed slug, and a few unknown ones, starts a thread with that model, runs
   one turn and keeps the first ``/v1/responses`` body the mock received, reduced to
   what decides the table (tool names and types, ``parallel_tool_calls``, ``reasoning``,
   ``include``, ``text``, …) plus ``modelContextWindow`` from ``thread/tokenUsage/updated``.

The result is one JSON document (``--out``, default stdout). With ``--write-catalog``
it also writes threadline's table, ``src/threadline/core/model_catalog.json``: the
catalog Codex bundles in its binary (found by scanning the executable for its
``{"models": [...]}`` document; the long prompt templates are left out) joined with
the request Codex sent for each slug, and the fallback (what an unknown slug got).

    .venv/bin/python tools/probe_codex_models.py --out /var/tmp/codex-models.json
    .venv/bin/python tools/probe_codex_models.py --write-catalog src/threadline/core/model_catalog.json
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from codex_ref import CODEX_CONFIG as CONFIG  # noqa: E402
from mock_model import MockModel, text  # noqa: E402

UNKNOWN_SLUGS = ("mock-model", "my-finetune", "gpt-5.5-2026-01-01", "gpt-5.1-codex-max-custom")



class AppServer:
    """A JSON-RPC client over the stdio of one ``codex app-server`` process."""

    def __init__(self, binary: str, home: Path, cwd: Path, overrides: list[str]) -> None:
        env = {**os.environ, "CODEX_HOME": str(home), "MOCK_OPENAI_API_KEY": "mock-key"}
        env["RUST_LOG"] = "error"
        self.proc = subprocess.Popen(
            [binary, "app-server", *(a for o in overrides for a in ("-c", o))],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._next_id = 0
        self._incoming: queue.Queue[dict[str, Any]] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self._incoming.put(json.loads(line))

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any], timeout: float = 30) -> Any:
        self._next_id += 1
        rid = self._next_id
        self.send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            msg = self._incoming.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg.get("id") == rid and "method" not in msg:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            self._other(msg)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = self._incoming.get(timeout=max(0.01, deadline - time.monotonic()))
            self._other(msg)
            if msg.get("method") == method:
                return msg

    def _other(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:  # a server request: decline anything asked
            self.send({"id": msg["id"], "result": {"decision": "decline"}})
        elif "method" in msg:
            self.notifications.append(msg)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def summarize_tool(tool: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": tool.get("type"), "name": tool.get("name")}
    if tool.get("type") == "custom":
        out["format"] = (tool.get("format") or {}).get("type")
    if tool.get("type") == "namespace":
        out["tools"] = [t.get("name") for t in tool.get("tools", [])]
    if tool.get("type") == "web_search":
        out.update({k: v for k, v in tool.items() if k != "type"})
    return out


def summarize_request(body: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "model",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning",
        "include",
        "text",
        "store",
        "service_tier",
        "max_output_tokens",
    )
    out: dict[str, Any] = {k: body[k] for k in keep if k in body}
    out["keys"] = sorted(body)
    out["tools"] = [summarize_tool(t) for t in body.get("tools", [])]
    out["instructions_len"] = len(body.get("instructions") or "")
    return out


def list_models(server: AppServer, include_hidden: bool) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"includeHidden": include_hidden}
        if cursor:
            params["cursor"] = cursor
        result = server.request("model/list", params)
        models.extend(result["data"])
        cursor = result.get("nextCursor")
        if not cursor:
            return models


def probe_slug(
    server: AppServer, mock: MockModel, slug: str, cwd: Path, full: bool
) -> dict[str, Any]:
    before = len(mock.requests)
    started = server.request("thread/start", {"cwd": str(cwd), "model": slug})
    thread_id = started["thread"]["id"]
    server.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hello"}]}
    )
    done = server.wait_for("turn/completed")
    usage = [
        n["params"]["tokenUsage"]
        for n in server.notifications
        if n["method"] == "thread/tokenUsage/updated" and n["params"].get("threadId") == thread_id
    ]
    bodies = [r.body for r in mock.requests[before:] if r.path.endswith("/responses")]
    result: dict[str, Any] = {
        "slug": slug,
        "thread_start": {
            k: started.get(k) for k in ("model", "modelProvider", "reasoningEffort", "serviceTier")
        },
        "turn_status": done["params"]["turn"]["status"],
        "model_context_window": usage[-1].get("modelContextWindow") if usage else None,
        "first_request": summarize_request(bodies[0]) if bodies else None,
    }
    if full and bodies:
        result["first_request_full"] = bodies[0]
    return result


# ---- the table -------------------------------------------------------------------------

CATALOG_KEYS = (
    "slug",
    "display_name",
    "description",
    "priority",
    "visibility",
    "context_window",
    "max_context_window",
    "effective_context_window_percent",
    "auto_compact_token_limit",
    "default_reasoning_level",
    "supported_reasoning_levels",
    "supports_reasoning_summaries",
    "default_reasoning_summary",
    "support_verbosity",
    "default_verbosity",
    "input_modalities",
    "apply_patch_tool_type",
    "shell_type",
    "supports_parallel_tool_calls",
    "tool_mode",
    "use_responses_lite",
    "web_search_tool_type",
    "supports_search_tool",
    "multi_agent_version",
    "experimental_supported_tools",
    "truncation_policy",
    "upgrade",
    "availability_nux",
    "additional_speed_tiers",
    "service_tiers",
    "default_service_tier",
    "model_specialty",
)

FALLBACK_PROBE = "mock-model"
"""The unknown slug whose request stands for Codex's fallback metadata."""


def bundled_catalog(binary: str) -> list[dict[str, Any]]:
    """The ``{"models": [...]}`` document compiled into the Codex executable."""
    data = Path(binary).read_bytes()
    start = data.find(b'{\n  "models": [')
    if start < 0:
        raise SystemExit(f"no bundled model catalog found in {binary}")
    doc, _ = json.JSONDecoder().raw_decode(
        data[start : start + 8_000_000].decode("utf-8", "replace")
    )
    return list(doc["models"])


def offered_tools(body: dict[str, Any]) -> list[str]:
    """Every tool name the request offers: top-level tools, namespaced ones as ``ns.name``,
    and, for code-mode models, the ``additional_tools`` item and the tools nested in ``exec``."""
    names: list[str] = []

    def walk(tools: list[dict[str, Any]], prefix: str) -> None:
        for tool in tools:
            name = tool.get("name") or tool.get("type") or "?"
            if tool.get("type") == "namespace":
                walk(tool.get("tools", []), f"{name}.")
                continue
            names.append(prefix + name)
            if name == "exec" and tool.get("type") == "custom":
                text = tool.get("description") or ""
                names.extend(
                    "exec." + line[5:-1]
                    for line in text.splitlines()
                    if line.startswith("### `") and line.endswith("`")
                )

    walk(body.get("tools") or [], "")
    for item in body.get("input") or []:
        if item.get("type") == "additional_tools":
            walk(item.get("tools") or [], "")
    return names


def observed(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "parallel_tool_calls": body.get("parallel_tool_calls"),
        "reasoning": body.get("reasoning"),
        "text": body.get("text"),
        "tools": offered_tools(body),
        "web_search": next(
            (
                {k: v for k, v in t.items() if k != "type"}
                for t in body.get("tools") or []
                if t.get("type") == "web_search"
            ),
            None,
        ),
    }


def build_table(
    version: str, bundled: list[dict[str, Any]], probes: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    models = []
    for raw in sorted(bundled, key=lambda m: m.get("priority", 99)):
        entry = {k: raw.get(k) for k in CATALOG_KEYS}
        if entry["effective_context_window_percent"] is None:
            entry["effective_context_window_percent"] = 95
        probe = probes.get(raw["slug"])
        entry["codex_request"] = observed(probe) if probe else None
        models.append(entry)
    fallback_probe = probes.get(FALLBACK_PROBE)
    return {
        "codex_version": version,
        "note": "Generated by tools/probe_codex_models.py --write-catalog; do not edit by hand.",
        "models": models,
        "fallback_request": observed(fallback_probe) if fallback_probe else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codex", help="codex binary (default: ../shared/tools/codex-ref)")
    parser.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument("--slug", action="append", help="probe only these slugs")
    parser.add_argument("--write-catalog", type=Path, help="write threadline's model table here")
    parser.add_argument(
        "-c", dest="overrides", action="append", default=[], help="a -c override for codex"
    )
    parser.add_argument("--full", action="store_true", help="keep the whole first request body")
    args = parser.parse_args()
    binary = (
        args.codex
        or subprocess.run(
            [str(ROOT.parent / "shared" / "tools" / "codex-ref")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    # Codex refuses to put its helper binaries under /tmp, hence /var/tmp.
    base = Path(tempfile.mkdtemp(prefix="codex-models-", dir="/var/tmp"))
    home, cwd = base / "home", base / "work"
    home.mkdir()
    cwd.mkdir()
    with MockModel() as mock:
        mock.set_default(text("ok"))
        (home / "config.toml").write_text(CONFIG.format(base_url=mock.base_url))
        server = AppServer(binary, home, cwd, args.overrides)
        try:
            server.request(
                "initialize",
                {"clientInfo": {"name": "probe", "title": "model probe", "version": "0.1.0"}},
            )
            server.send({"method": "initialized"})
            visible = list_models(server, include_hidden=False)
            everything = list_models(server, include_hidden=True)
            slugs = args.slug or [m["model"] for m in everything] + list(UNKNOWN_SLUGS)
            full = args.full or args.write_catalog is not None
            probes = [probe_slug(server, mock, s, cwd, full) for s in slugs]
        finally:
            server.close()
    shutil.rmtree(base, ignore_errors=True)
    doc = {
        "codex_version": version,
        "overrides": args.overrides,
        "model_list": visible,
        "model_list_include_hidden": everything,
        "probes": probes,
    }
    if args.write_catalog is not None:
        bodies = {p["slug"]: p["first_request_full"] for p in probes if p.get("first_request_full")}
        table = build_table(version, bundled_catalog(binary), bodies)
        args.write_catalog.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
        for p in probes:
            p.pop("first_request_full", None)
    data = json.dumps(doc, indent=2) + "\n"
    if args.out:
        args.out.write_text(data)
    else:
        sys.stdout.write(data)


if __name__ == "__main__":
    main()
