"""Hooks as Codex 0.169's config defines them: discovery and trust.

Hooks come from the home's ``config.toml`` (``[[hooks.<Event>]]`` matcher groups, each
with ``[[hooks.<Event>.hooks]]`` handlers) and from ``hooks.json`` beside it
(``{"hooks": {"<Event>": [groups]}}``). Events are named as Codex names them
(``PreToolUse``, ``PostToolUse``, ``SessionStart``, ``UserPromptSubmit``, ``Stop``, …);
a handler is ``type = "command"`` with ``command``, ``timeout`` (or ``timeoutSec``,
seconds, default 600), ``async`` and ``statusMessage``. Prompt and agent handlers are
reported as warnings and skipped, as Codex skips them.

Each hook has a key, ``<source file>:<event_snake>:<group>:<handler>``, and a hash of
its normalized definition. A user hook runs only when it is enabled and trusted:
``[hooks.state."<key>"]`` with ``trusted_hash = "<the hash hooks/list reports>"``
(``enabled = false`` turns one off); a hook whose definition changed since it was
trusted is ``modified`` and does not run. The hash is computed as Codex 0.169 computes
it (:func:`hook_hash`), so a trust recorded by either holds for both.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.protocol.records import record

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from threadline.core.hooks_run import HookRunner
    from threadline.core.skills import Skill

DEFAULT_TIMEOUT_SEC = 600

EVENTS: dict[str, tuple[str, str]] = {
    # config key -> (wire eventName, key label)
    "PreModelRequest": ("preModelRequest", "pre_model_request"),
    "PostModelRequest": ("postModelRequest", "post_model_request"),
    "PreToolUse": ("preToolUse", "pre_tool_use"),
    "PermissionRequest": ("permissionRequest", "permission_request"),
    "PostToolUse": ("postToolUse", "post_tool_use"),
    "PreCompact": ("preCompact", "pre_compact"),
    "PostCompact": ("postCompact", "post_compact"),
    "SessionStart": ("sessionStart", "session_start"),
    "SessionEnd": ("sessionEnd", "session_end"),
    "UserPromptSubmit": ("userPromptSubmit", "user_prompt_submit"),
    "SubagentStart": ("subagentStart", "subagent_start"),
    "SubagentStop": ("subagentStop", "subagent_stop"),
    "Stop": ("stop", "stop"),
    "Interrupt": ("interrupt", "interrupt"),
}
WIRE_TO_CONFIG = {wire: name for name, (wire, _label) in EVENTS.items()}
_NO_MATCHER = frozenset({"userPromptSubmit", "stop", "interrupt"})
"""Events whose matcher Codex ignores (every run of the event matches)."""


@record
class Hook:
    """One configured command hook."""

    key: str
    event: str
    """The wire event name (``preToolUse``)."""
    command: str
    matcher: str | None
    timeout_sec: int
    is_async: bool
    status_message: str | None
    source_path: Path
    display_order: int
    enabled: bool
    current_hash: str
    trust_status: str

    @property
    def runs(self) -> bool:
        return self.enabled and self.trust_status in ("trusted", "managed")

    def matches(self, target: str | None) -> bool:
        """Whether this hook fires for ``target`` (a tool name, a session source)."""
        if self.event in _NO_MATCHER or self.matcher in (None, "", "*") or target is None:
            return True
        try:
            return re.fullmatch(self.matcher, target) is not None
        except re.error:
            return False

    def listing(self) -> dict[str, Any]:
        """The ``HookMetadata`` members (snake_case; the wire type validates them)."""
        return {
            "key": self.key,
            "event_name": self.event,
            "handler_type": "command",
            "command": self.command,
            "async": self.is_async,
            "matcher": self.matcher,
            "timeout_sec": self.timeout_sec,
            "status_message": self.status_message,
            "additional_context_limit": None,
            "source_path": str(self.source_path),
            "source": "user",
            "plugin_id": None,
            "environment_id": None,
            "display_order": self.display_order,
            "enabled": self.enabled,
            "is_managed": False,
            "current_hash": self.current_hash,
            "trust_status": self.trust_status,
        }


@dataclass(slots=True)
class Discovery:
    hooks: list[Hook] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)

    def for_event(self, event: str, target: str | None = None) -> list[Hook]:
        """The hooks that run for ``event`` (and ``target``), in display order."""
        return [h for h in self.hooks if h.event == event and h.runs and h.matches(target)]


def hook_hash(label: str, matcher: str | None, handler: dict[str, Any]) -> str:
    """Codex's trust hash of one hook: sha256 of the compact, key-sorted JSON of
    ``{event_name, matcher, hooks: [handler]}`` with absent members left out, so a hook
    Codex trusted is trusted here too (and the other way round)."""
    hook = {k: v for k, v in handler.items() if v is not None}
    identity: dict[str, Any] = {"event_name": label, "hooks": [hook]}
    if matcher is not None:
        identity["matcher"] = matcher
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def _states(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hooks = tree.get("hooks")
    state = hooks.get("state") if isinstance(hooks, dict) else None
    if not isinstance(state, dict):
        return {}
    return {k.strip(): v for k, v in state.items() if isinstance(v, dict) and k.strip()}


def _timeout(handler: dict[str, Any]) -> int | None:
    raw = handler.get("timeout", handler.get("timeoutSec", handler.get("timeout_sec")))
    if raw is None:
        return DEFAULT_TIMEOUT_SEC
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        return None
    return max(1, raw)


def _append(
    out: Discovery,
    events: Any,
    source: Path,
    states: dict[str, dict[str, Any]],
) -> None:
    if not isinstance(events, dict):
        out.warnings.append(f"failed to parse hooks in {source}: `hooks` must be a table")
        return
    for name, groups in events.items():
        if name == "state":
            continue
        if name not in EVENTS:
            out.warnings.append(f"unknown hook event {name!r} in {source}")
            continue
        wire, label = EVENTS[name]
        if not isinstance(groups, list):
            out.warnings.append(
                f"failed to parse hooks in {source}: {name} must be a list of matcher groups"
            )
            continue
        for gi, group in enumerate(groups):
            if not isinstance(group, dict) or not isinstance(group.get("hooks", []), list):
                out.warnings.append(
                    f"failed to parse hooks in {source}: {name}[{gi}] is not a matcher group"
                )
                continue
            matcher = group.get("matcher")
            if matcher is not None and not isinstance(matcher, str):
                out.warnings.append(
                    f"invalid matcher in {source}: {name}[{gi}].matcher must be a string"
                )
                continue
            if wire in _NO_MATCHER:
                matcher = None
            if matcher not in (None, "", "*"):
                try:
                    re.compile(matcher)
                except re.error as exc:
                    out.warnings.append(f"invalid matcher {matcher!r} in {source}: {exc}")
                    continue
            for hi, handler in enumerate(group.get("hooks", [])):
                _append_handler(out, source, states, wire, label, matcher, gi, hi, handler)


def _append_handler(
    out: Discovery,
    source: Path,
    states: dict[str, dict[str, Any]],
    wire: str,
    label: str,
    matcher: str | None,
    gi: int,
    hi: int,
    handler: Any,
) -> None:
    if not isinstance(handler, dict):
        out.warnings.append(f"failed to parse hooks in {source}: a handler must be a table")
        return
    kind = handler.get("type", "command")
    if kind in ("prompt", "agent"):
        out.warnings.append(f"skipping {kind} hook in {source}: {kind} hooks are not supported yet")
        return
    if kind != "command":
        out.warnings.append(f"skipping hook of unknown type {kind!r} in {source}")
        return
    command = handler.get("command")
    if not isinstance(command, str) or not command.strip():
        out.warnings.append(f"skipping empty hook command in {source}")
        return
    timeout = _timeout(handler)
    if timeout is None:
        out.warnings.append(f"invalid hook timeout in {source}: must be a non-negative integer")
        return
    status = handler.get("statusMessage", handler.get("status_message"))
    status = status if isinstance(status, str) else None
    is_async = handler.get("async") is True
    normalized = {
        "type": "command",
        "command": command,
        "timeout": timeout,
        "async": is_async,
        "statusMessage": status,
    }
    digest = hook_hash(label, matcher, normalized)
    key = f"{source}:{label}:{gi}:{hi}"
    state = states.get(key, {})
    trusted = state.get("trusted_hash")
    trust = (
        "untrusted"
        if not isinstance(trusted, str)
        else ("trusted" if trusted == digest else "modified")
    )
    out.hooks.append(
        Hook(
            key=key,
            event=wire,
            command=command,
            matcher=matcher,
            timeout_sec=timeout,
            is_async=is_async,
            status_message=status,
            source_path=source,
            display_order=len(out.hooks),
            enabled=state.get("enabled") is not False,
            current_hash=digest,
            trust_status=trust,
        )
    )


def discover(home: Path) -> Discovery:
    """Every hook of ``home``'s ``hooks.json`` and ``config.toml`` (in that order, as
    Codex loads a layer), with its trust; problems become warnings or errors."""
    out = Discovery()
    config_file = home / "config.toml"
    tree: dict[str, Any] = {}
    try:
        tree = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        out.errors.append((config_file, f"failed to read config: {exc}"))
    states = _states(tree)
    json_file = home / "hooks.json"
    if json_file.is_file():
        try:
            data = json.loads(json_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            out.warnings.append(f"failed to parse hooks config {json_file}: {exc}")
        else:
            if isinstance(data, dict) and data.get("hooks"):
                _append(out, data["hooks"], json_file, states)
    if "hooks" in tree:
        _append(out, tree["hooks"], config_file, states)
    return out


def hooks_enabled(features: dict[str, Any]) -> bool:
    """Hooks run unless ``[features] hooks`` (or the older ``codex_hooks``) is false."""
    return features.get("hooks", features.get("codex_hooks", True)) is not False


@record
class TurnExtras:
    """What a thread's turns add around the model: its hooks (None: hooks are off) and
    its skills as they are on disk now. Here, not in ``core.hook_events`` (which applies
    them, and re-exports this): a thread is built with one, and a resumed thread loads
    the turn code only with its first turn."""

    hooks: HookRunner | None = None
    skills: Callable[[], Sequence[Skill]] | None = None


__all__ = [
    "DEFAULT_TIMEOUT_SEC",
    "EVENTS",
    "WIRE_TO_CONFIG",
    "Discovery",
    "Hook",
    "TurnExtras",
    "discover",
    "hook_hash",
    "hooks_enabled",
]
