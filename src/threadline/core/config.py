"""Configuration: ``$THREADLINE_HOME/config.toml`` with Codex's key names → a frozen :class:`Config`.

Layers, lowest to highest precedence: built-in defaults, the config file, the selected profile
(``[profiles.<name>]``), ``-c key=value`` overrides, and explicit per-thread overrides
(:meth:`Config.with_overrides`). Every problem is reported as a :class:`ConfigError` whose
message names where the value came from (the file, ``-c override`` or ``override``), the dotted
key and what is wrong with it. Unknown keys are kept in :attr:`Config.extra`, never rejected.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast

from threadline.core.config_sections import (
    APPLY_PATCH_TOOL_TYPES,
    WIRE_APIS,
    ApplyPatchConfig,
    McpServerConfig,
    ModelProviderConfig,
    SandboxLimits,
    SandboxWorkspaceWrite,
    frozen_copy,
    jsonable,
    no_entries,
)
from threadline.protocol.records import record
from threadline.sandbox import DEFAULT_MAX_PROCESSES
from threadline.sandbox.env_policy import ENV_INHERIT_VALUES, ShellEnvironmentPolicy
from threadline.tools.defaults import DEFAULT_TIMEOUT_S

ApprovalPolicy = Literal["untrusted", "on-failure", "on-request", "never"]
SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]
ReasoningSummary = Literal["auto", "concise", "detailed", "none"]

APPROVAL_POLICIES: tuple[ApprovalPolicy, ...] = ("untrusted", "on-failure", "on-request", "never")
SANDBOX_MODES: tuple[SandboxMode, ...] = ("read-only", "workspace-write", "danger-full-access")
REASONING_SUMMARIES: tuple[ReasoningSummary, ...] = ("auto", "concise", "detailed", "none")

CONFIG_FILE_NAME = "config.toml"
OVERRIDE_SOURCE = "-c override"
EXPLICIT_SOURCE = "override"

_Path = tuple[str, ...]
_T = TypeVar("_T")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_NO_ORIGINS: Mapping[_Path, tuple[str, str]] = MappingProxyType({})


class ConfigError(Exception):
    """A configuration problem: ``<source>: <key>: <problem>`` (the key is left out when none applies)."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


def threadline_home(env: Mapping[str, str] | None = None) -> Path:
    """``$THREADLINE_HOME`` when set (and not empty), else ``~/.threadline``."""
    environ = os.environ if env is None else env
    raw = environ.get("THREADLINE_HOME")
    if raw:
        return Path(raw).expanduser()
    return Path.home() / ".threadline"


# ---- the config ---------------------------------------------------------------------------


@record(slots=False)
class Config:
    """The effective configuration. Immutable; derive variants with :meth:`with_overrides`."""

    home: Path
    config_file: Path
    model: str | None = None
    model_provider: str | None = None
    model_providers: Mapping[str, ModelProviderConfig] = field(default_factory=no_entries)
    approval_policy: ApprovalPolicy = "on-request"
    sandbox_mode: SandboxMode = "read-only"
    sandbox_workspace_write: SandboxWorkspaceWrite = field(default_factory=SandboxWorkspaceWrite)
    sandbox_limits: SandboxLimits = field(default_factory=SandboxLimits)
    shell_environment_policy: ShellEnvironmentPolicy = field(default_factory=ShellEnvironmentPolicy)
    """``[shell_environment_policy]``: which variables commands the model runs get."""
    model_reasoning_effort: str | None = None
    model_reasoning_summary: ReasoningSummary | None = None
    model_context_window: int | None = None
    model_max_output_tokens: int | None = None
    model_supports_reasoning_summaries: bool | None = None
    model_auto_compact_token_limit: int | None = None
    apply_patch_tool_type: ApplyPatchConfig | None = None  # threadline's own key
    mcp_servers: Mapping[str, McpServerConfig] = field(default_factory=no_entries)
    features: Mapping[str, bool] = field(default_factory=no_entries)
    profile: str | None = None
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=no_entries)
    persist_extended_history: bool = False
    rollout_fsync: bool = True
    instructions: str | None = None
    developer_instructions: str | None = None
    extra: Mapping[str, Any] = field(default_factory=no_entries)
    """Top-level keys threadline does not interpret (kept, and echoed by :meth:`to_json`)."""
    overrides: tuple[str, ...] = ()  # the raw ``-c`` overrides load_config applied (for reloads)
    _tree: Mapping[str, Any] = field(default_factory=no_entries, repr=False, compare=False)
    _origins: Mapping[_Path, tuple[str, str]] = field(
        default_factory=lambda: _NO_ORIGINS, repr=False, compare=False
    )

    def provider_env_keys(self) -> tuple[str, ...]:
        """The ``env_key`` of every configured model provider (secrets commands never get)."""
        keys = {p.env_key for p in self.model_providers.values() if p.env_key}
        return tuple(sorted(keys))

    def feature_enabled(self, name: str, default: bool = False) -> bool:
        return self.features.get(name, default)

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with explicit per-thread values on top of every other layer.

        Keys are config key names; a dotted key (``**{"model_providers.x.base_url": ...}``)
        reaches into tables. ``None`` removes the key from every layer, so the built-in
        default applies. Values are validated like the file's; a bad one raises
        :class:`ConfigError` with source ``override``. The profile is fixed at load time.
        """
        tree = copy.deepcopy(dict(self._tree))
        origins = dict(self._origins)
        for key, value in overrides.items():
            path = _split_key(key, EXPLICIT_SOURCE, key)
            if path[0] in ("profile", "profiles"):
                raise ConfigError(
                    EXPLICIT_SOURCE, key, "the profile can only be chosen when loading the config"
                )
            if value is None:
                _delete_path(tree, path)
            else:
                _set_path(tree, path, _to_tree_value(value))
            origins[path] = (EXPLICIT_SOURCE, ".".join(path))
        return _build(tree, _Where(self.config_file, origins), self.home, self.profile)

    def to_json(self) -> dict[str, Any]:
        """The effective config as JSON-able data with Codex's key names (for ``config/read``).

        ``approval_policy = "on-failure"`` is reported as ``on-request``: the v2 wire of
        Codex 0.169 no longer has an ``on-failure`` value.
        """
        approval = "on-request" if self.approval_policy == "on-failure" else self.approval_policy
        out: dict[str, Any] = jsonable(dict(self.extra))
        out.update(
            {
                "model": self.model,
                "model_provider": self.model_provider,
                "approval_policy": approval,
                "sandbox_mode": self.sandbox_mode,
                "sandbox_workspace_write": self.sandbox_workspace_write.to_json(),
                "sandbox_limits": self.sandbox_limits.to_json(),
                "shell_environment_policy": self.shell_environment_policy.to_json(),
                "model_reasoning_effort": self.model_reasoning_effort,
                "model_reasoning_summary": self.model_reasoning_summary,
                "model_context_window": self.model_context_window,
                "model_max_output_tokens": self.model_max_output_tokens,
                "model_supports_reasoning_summaries": self.model_supports_reasoning_summaries,
                "model_auto_compact_token_limit": self.model_auto_compact_token_limit,
                "apply_patch_tool_type": self.apply_patch_tool_type,
                "instructions": self.instructions,
                "developer_instructions": self.developer_instructions,
                "profile": self.profile,
                "model_providers": {k: v.to_json() for k, v in self.model_providers.items()},
                "mcp_servers": {k: v.to_json() for k, v in self.mcp_servers.items()},
                "features": dict(self.features),
                "profiles": jsonable({k: dict(v) for k, v in self.profiles.items()}),
                "persist_extended_history": self.persist_extended_history,
                "rollout_fsync": self.rollout_fsync,
            }
        )
        return out


# ---- loading ------------------------------------------------------------------------------


def parse_override(raw: str) -> tuple[list[str], object]:
    """Parse one ``-c key=value``: the dotted key as a path, the value as TOML or else a string.

    Like Codex: split at the first ``=``; the value is parsed as a TOML value
    (``-c x=42`` → int, ``-c 'x=["a"]'`` → list); when that fails it is taken as
    text with surrounding quotes removed (``-c model=o3`` → ``"o3"``).
    """
    key, sep, value = raw.partition("=")
    if not sep:
        raise ConfigError(OVERRIDE_SOURCE, raw, 'expected key=value (missing "=")')
    path = _split_key(key.strip(), OVERRIDE_SOURCE, raw)
    return list(path), _parse_toml_value(value.strip())


def load_config(
    home: Path | None = None,
    overrides: Sequence[str] = (),
    profile: str | None = None,
) -> Config:
    """Read ``<home>/config.toml`` (absent file = all defaults) and apply profile and ``-c`` overrides."""
    home = threadline_home() if home is None else home
    config_file = home / CONFIG_FILE_NAME
    tree = _read_file(config_file)
    parsed = [parse_override(raw) for raw in overrides]
    origins: dict[_Path, tuple[str, str]] = {}
    for path, value in parsed:
        _set_path(tree, tuple(path), copy.deepcopy(value))
        origins[tuple(path)] = (OVERRIDE_SOURCE, ".".join(path))
    where = _Where(config_file, origins)

    active = profile
    if active is None and tree.get("profile") is not None:
        active = where.str_(tree["profile"], ("profile",))
    if active is not None:
        profiles = tree.get("profiles", {})
        if not isinstance(profiles, dict):
            raise where.error(("profiles",), f"expected a table, got {_describe(profiles)}")
        table = profiles.get(active)
        if not isinstance(table, dict):
            known = ", ".join(sorted(profiles)) or "none are defined"
            raise where.error(
                ("profiles",), f'unknown profile "{active}" (defined profiles: {known})'
            )
        for key, value in table.items():
            if key in ("profile", "profiles"):
                continue
            _merge_into(tree, (key,), copy.deepcopy(value), origins, config_file, active)
        for path, value in parsed:  # -c beats the profile
            _set_path(tree, tuple(path), copy.deepcopy(value))
            origins[tuple(path)] = (OVERRIDE_SOURCE, ".".join(path))
    return dataclasses.replace(_build(tree, where, home, active), overrides=tuple(overrides))


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise ConfigError(str(path), None, f"cannot read: {err.strerror or err}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), None, "not valid UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), None, f"invalid TOML: {err}") from None


def _parse_toml_value(text: str) -> object:
    try:
        table = tomllib.loads(f"_x_ = {text}")
    except tomllib.TOMLDecodeError:
        table = {}
    if len(table) == 1 and "_x_" in table:
        return table["_x_"]
    return text.strip("\"'")


def _split_key(key: str, source: str, shown: str) -> _Path:
    path = tuple(part.strip() for part in key.split("."))
    if not key.strip() or any(not part for part in path):
        raise ConfigError(source, shown, "empty key or empty key segment")
    return path


def _set_path(tree: dict[str, Any], path: _Path, value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _delete_path(tree: dict[str, Any], path: _Path) -> None:
    node: Any = tree
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _merge_into(
    tree: dict[str, Any],
    path: _Path,
    value: Any,
    origins: dict[_Path, tuple[str, str]],
    config_file: Path,
    profile: str,
) -> None:
    """Deep-merge a profile value: tables merge key by key, anything else replaces."""
    node: Any = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    current = node.get(path[-1])
    if isinstance(value, dict) and isinstance(current, dict):
        for key, sub in value.items():
            _merge_into(tree, (*path, key), sub, origins, config_file, profile)
        return
    node[path[-1]] = value
    origins[path] = (str(config_file), "profiles." + profile + "." + ".".join(path))


def _to_tree_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if isinstance(value, Mapping):
        return {str(k): _to_tree_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_tree_value(v) for v in value]
    return value


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int | float):
        return repr(value)
    return f"{type(value).__name__} {value!s}"


# ---- validation ---------------------------------------------------------------------------


class _Where:
    """Knows which layer a key came from, to name it in error messages."""

    def __init__(self, config_file: Path, origins: Mapping[_Path, tuple[str, str]]) -> None:
        self.config_file = config_file
        self.origins = origins

    def error(self, path: _Path, problem: str) -> ConfigError:
        for n in range(len(path), 0, -1):
            hit = self.origins.get(path[:n])
            if hit is not None:
                source, shown = hit
                return ConfigError(source, shown + "".join("." + p for p in path[n:]), problem)
        return ConfigError(str(self.config_file), ".".join(path), problem)

    def str_(self, value: Any, path: _Path) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {_describe(value)}")
        return value

    def bool_(self, value: Any, path: _Path) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {_describe(value)}")
        return value

    def int_(self, value: Any, path: _Path, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"expected an integer, got {_describe(value)}")
        if value < minimum:
            raise self.error(path, f"expected an integer >= {minimum}, got {value}")
        return value

    def enum(self, value: Any, path: _Path, choices: Sequence[_T]) -> _T:
        if value not in choices:
            raise self.error(
                path, f"expected one of {', '.join(map(str, choices))}; got {_describe(value)}"
            )
        return cast(_T, value)

    def table(self, value: Any, path: _Path) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {_describe(value)}")
        return value

    def str_list(self, value: Any, path: _Path) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.error(path, f"expected an array of strings, got {_describe(value)}")
        return tuple(self.str_(v, (*path, str(i))) for i, v in enumerate(value))

    def str_map(self, value: Any, path: _Path) -> Mapping[str, str]:
        table = self.table(value, path)
        return frozen_copy({k: self.str_(v, (*path, k)) for k, v in table.items()})


def _opt(
    table: Mapping[str, Any], key: str, path: _Path, parse: Callable[[Any, _Path], _T]
) -> _T | None:
    value = table.get(key)
    return None if value is None else parse(value, (*path, key))


def _build(tree: dict[str, Any], where: _Where, home: Path, profile: str | None) -> Config:
    w = where
    known = {f.name for f in dataclasses.fields(Config)} - {"home", "config_file", "extra"}
    top: _Path = ()
    model_providers = {
        pid: _provider(w.table(raw, ("model_providers", pid)), ("model_providers", pid), w, home)
        for pid, raw in w.table(tree.get("model_providers", {}), ("model_providers",)).items()
    }
    mcp_servers = {
        name: _mcp_server(w.table(raw, ("mcp_servers", name)), ("mcp_servers", name), w)
        for name, raw in w.table(tree.get("mcp_servers", {}), ("mcp_servers",)).items()
    }
    features = {
        k: w.bool_(v, ("features", k))
        for k, v in w.table(tree.get("features", {}), ("features",)).items()
    }
    profiles = {
        k: frozen_copy(w.table(v, ("profiles", k)))
        for k, v in w.table(tree.get("profiles", {}), ("profiles",)).items()
    }
    swr = w.table(tree.get("sandbox_workspace_write", {}), ("sandbox_workspace_write",))
    swr_path: _Path = ("sandbox_workspace_write",)

    limits = w.table(tree.get("sandbox_limits", {}), ("sandbox_limits",))
    limits_path: _Path = ("sandbox_limits",)
    max_processes = _opt(limits, "max_processes", limits_path, w.int_)
    timeout = _opt(limits, "command_timeout_sec", limits_path, w.int_)
    if timeout == 0:
        raise w.error(("sandbox_limits", "command_timeout_sec"), "expected a positive number")

    def flag(key: str, default: bool) -> bool:
        value = _opt(tree, key, top, w.bool_)
        return default if value is None else value

    def swr_flag(key: str) -> bool:
        return bool(_opt(swr, key, swr_path, w.bool_))

    positive = functools.partial(w.int_, minimum=1)
    summaries = _opt(tree, "model_supports_reasoning_summaries", top, w.bool_)
    effort = _opt(tree, "model_reasoning_effort", top, w.str_)
    if effort == "":
        raise w.error(("model_reasoning_effort",), "expected a non-empty string")
    return Config(
        home=home,
        config_file=w.config_file,
        model=_opt(tree, "model", top, w.str_),
        model_provider=_opt(tree, "model_provider", top, w.str_),
        model_providers=frozen_copy(model_providers),
        approval_policy=_opt(
            tree, "approval_policy", top, lambda v, p: w.enum(v, p, APPROVAL_POLICIES)
        )
        or "on-request",
        sandbox_mode=_opt(tree, "sandbox_mode", top, lambda v, p: w.enum(v, p, SANDBOX_MODES))
        or "read-only",
        shell_environment_policy=_shell_environment_policy(tree, w),
        sandbox_workspace_write=SandboxWorkspaceWrite(
            writable_roots=_opt(swr, "writable_roots", swr_path, w.str_list) or (),
            network_access=swr_flag("network_access"),
            exclude_tmpdir_env_var=swr_flag("exclude_tmpdir_env_var"),
            exclude_slash_tmp=swr_flag("exclude_slash_tmp"),
        ),
        sandbox_limits=SandboxLimits(
            max_processes=DEFAULT_MAX_PROCESSES if max_processes is None else max_processes,
            command_timeout_sec=DEFAULT_TIMEOUT_S if timeout is None else float(timeout),
        ),
        model_reasoning_effort=effort,
        model_reasoning_summary=_opt(
            tree, "model_reasoning_summary", top, lambda v, p: w.enum(v, p, REASONING_SUMMARIES)
        ),
        model_context_window=_opt(tree, "model_context_window", top, positive),
        model_max_output_tokens=_opt(tree, "model_max_output_tokens", top, positive),
        model_supports_reasoning_summaries=summaries,
        model_auto_compact_token_limit=_opt(tree, "model_auto_compact_token_limit", top, positive),
        apply_patch_tool_type=_opt(
            tree, "apply_patch_tool_type", top, lambda v, p: w.enum(v, p, APPLY_PATCH_TOOL_TYPES)
        ),
        mcp_servers=frozen_copy(mcp_servers),
        features=frozen_copy(features),
        profile=profile,
        profiles=frozen_copy(profiles),
        persist_extended_history=flag("persist_extended_history", False),
        rollout_fsync=flag("rollout_fsync", True),
        instructions=_opt(tree, "instructions", top, w.str_),
        developer_instructions=_opt(tree, "developer_instructions", top, w.str_),
        extra=frozen_copy({k: v for k, v in tree.items() if k not in known}),
        _tree=tree,
        _origins=MappingProxyType(dict(where.origins)),
    )


_PROVIDER_KEYS = {f.name for f in dataclasses.fields(ModelProviderConfig)} - {"extra"}
_MCP_KEYS = {f.name for f in dataclasses.fields(McpServerConfig)} - {"extra"}


def _provider(raw: dict[str, Any], path: _Path, w: _Where, home: Path) -> ModelProviderConfig:
    model_path = _opt(raw, "model_path", path, w.str_)
    resolved: Path | None = None
    if model_path is not None:
        resolved = Path(model_path).expanduser()
        if not resolved.is_absolute():
            resolved = home / resolved
    return ModelProviderConfig(
        name=_opt(raw, "name", path, w.str_),
        base_url=_opt(raw, "base_url", path, w.str_),
        env_key=_opt(raw, "env_key", path, w.str_),
        wire_api=_opt(raw, "wire_api", path, lambda v, p: w.enum(v, p, WIRE_APIS)),
        query_params=_opt(raw, "query_params", path, w.str_map) or _EMPTY,
        http_headers=_opt(raw, "http_headers", path, w.str_map) or _EMPTY,
        request_max_retries=_opt(raw, "request_max_retries", path, w.int_),
        stream_max_retries=_opt(raw, "stream_max_retries", path, w.int_),
        stream_idle_timeout_ms=_opt(
            raw, "stream_idle_timeout_ms", path, lambda v, p: w.int_(v, p, minimum=1)
        ),
        model_path=resolved,
        extra=frozen_copy({k: v for k, v in raw.items() if k not in _PROVIDER_KEYS}),
    )


def _mcp_server(raw: dict[str, Any], path: _Path, w: _Where) -> McpServerConfig:
    command = _opt(raw, "command", path, w.str_)
    url = _opt(raw, "url", path, w.str_)
    if command is None and url is None:
        raise w.error(path, 'expected either "command" (stdio) or "url" (streamable HTTP)')
    enabled = _opt(raw, "enabled", path, w.bool_)
    return McpServerConfig(
        command=command,
        args=_opt(raw, "args", path, w.str_list) or (),
        env=_opt(raw, "env", path, w.str_map) or _EMPTY,
        url=url,
        enabled=True if enabled is None else enabled,
        extra=frozen_copy({k: v for k, v in raw.items() if k not in _MCP_KEYS}),
    )


_ENV_POLICY_KEYS = (
    *("inherit", "ignore_default_excludes", "exclude", "set", "include_only"),
    *("filters", "experimental_use_profile"),
)
_ENV_FILTERS = ("include", "exclude")


def _shell_environment_policy(tree: Mapping[str, Any], w: _Where) -> ShellEnvironmentPolicy:
    """``[shell_environment_policy]``; unlike most tables, an unknown key is an error here:
    a misspelt ``exclude`` would silently hand secrets to every command."""
    path: _Path = ("shell_environment_policy",)
    raw = w.table(tree.get("shell_environment_policy", {}), path)
    for key in raw:
        if key not in _ENV_POLICY_KEYS:
            raise w.error(
                (*path, key), f"unknown key; expected one of {', '.join(_ENV_POLICY_KEYS)}"
            )
    inherit = _opt(raw, "inherit", path, lambda v, p: w.enum(v, p, ENV_INHERIT_VALUES))
    exclude = _opt(raw, "exclude", path, w.str_list) or ()
    include_only = _opt(raw, "include_only", path, w.str_list) or ()
    filters = _opt(raw, "filters", path, w.table)
    if filters is not None:
        # Codex's newer spelling: ``filters = { "AWS_*" = "exclude", "PATH" = "include" }``.
        for key in ("exclude", "include_only"):
            if key in raw:
                raise w.error(
                    (*path, key), 'cannot be combined with "filters"; use one or the other'
                )
        seen: set[str] = set()
        excl: list[str] = []
        incl: list[str] = []
        for pattern, kind in filters.items():
            if pattern.lower() in seen:
                raise w.error((*path, "filters", pattern), "duplicate pattern (ignoring case)")
            seen.add(pattern.lower())
            choice = w.enum(kind, (*path, "filters", pattern), _ENV_FILTERS)
            (incl if choice == "include" else excl).append(pattern)
        exclude, include_only = tuple(excl), tuple(incl)
    for i, pattern in enumerate((*exclude, *include_only)):
        if not pattern:
            key = "exclude" if i < len(exclude) else "include_only"
            raise w.error((*path, key), "empty pattern")
    set_vars = _opt(raw, "set", path, w.str_map) or _EMPTY
    for name, value in set_vars.items():
        if not name or "=" in name or "\0" in name:
            raise w.error((*path, "set", name), "not a valid environment variable name")
        if "\0" in value:
            raise w.error((*path, "set", name), "value contains a NUL character")
    ignore = _opt(raw, "ignore_default_excludes", path, w.bool_)
    use_profile = _opt(raw, "experimental_use_profile", path, w.bool_)
    return ShellEnvironmentPolicy(
        inherit=inherit or "all",
        ignore_default_excludes=bool(ignore),
        exclude=tuple(exclude),
        set=frozen_copy(set_vars),
        include_only=tuple(include_only),
        experimental_use_profile=bool(use_profile),
    )
