"""Edits of the user's ``config.toml`` (``config/value/write``, ``config/batchWrite``,
``modelProvider/config/write``), keeping its comments and layout.

The file is parsed with ``tomlkit``; each edit sets (``replace``) or deep-merges (``upsert``)
the value at a dotted key path, ``null`` removes the key. The edited text must load as a
config (the same checks as at startup) before it replaces the file, atomically, so a bad
edit leaves the file as it was. A version is the SHA-256 of the file's bytes
(``sha256:<hex>``, as Codex reports it); an ``expectedVersion`` that is not the current one
is a conflict. Errors carry Codex's ``config_write_error_code`` in their data.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from threadline.core.config import Config, ConfigError, load_config, parse_override
from threadline.core.errors import CoreError

if TYPE_CHECKING:  # tomlkit loads with the first write, not at start-up
    import tomlkit

__all__ = [
    "ConfigWriteError",
    "Edit",
    "Layer",
    "WriteResult",
    "config_version",
    "layers",
    "leaf_keys",
    "overrides_version",
    "reload_config",
    "split_key_path",
    "write_edits",
]

ErrorCode = Literal[
    "configVersionConflict",
    "configValidationError",
    "configLayerReadonly",
    "configPathNotFound",
    "configWriteFailed",
]


class ConfigWriteError(CoreError):
    """A config edit that was refused; ``data`` names Codex's error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message, data={"config_write_error_code": code})
        self.code = code


@dataclass(frozen=True, slots=True)
class Edit:
    key_path: str
    value: Any
    merge_strategy: Literal["replace", "upsert"] = "replace"


@dataclass(frozen=True, slots=True)
class WriteResult:
    file_path: Path
    version: str
    config: Config
    """The config reloaded from the written file (with the same ``-c`` overrides)."""
    overridden: tuple[str, Any] | None = None
    """``(key path, effective value)`` of the first edit a ``-c`` override hides."""
    overrides_version: str = ""
    """``sha256:<hex>`` of the ``-c`` overrides (the session-flags layer's version)."""


def config_version(path: Path) -> str:
    """``sha256:<hex>`` of the file's bytes (of nothing when it does not exist)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def split_key_path(key_path: str) -> list[str]:
    """``a.b."c.d"`` → ``["a", "b", "c.d"]``: dots split, a double-quoted segment is a JSON
    string (``"x\\"y"`` → ``x"y``); an empty path or segment is a validation error."""
    if not key_path.strip():
        raise ConfigWriteError("configValidationError", "keyPath must not be empty")
    bad = ConfigWriteError("configValidationError", f"invalid keyPath `{key_path}`")
    parts: list[str] = []
    i, n = 0, len(key_path)
    while i < n:
        if key_path[i] == '"':
            j = i + 1
            while j < n and key_path[j] != '"':
                j += 2 if key_path[j] == "\\" else 1
            if j >= n:
                raise bad
            try:
                part = json.loads(key_path[i : j + 1])
            except ValueError:
                raise bad from None
            i = j + 1
        else:
            j = key_path.find(".", i)
            j = n if j < 0 else j
            part, i = key_path[i:j], j
        if not part or (i < n and key_path[i] != "."):
            raise bad
        parts.append(part)
        i += 1  # past the dot
        if i == n and key_path.endswith("."):
            raise bad
    return parts


def reload_config(config: Config, extra_overrides: Sequence[str] = ()) -> Config:
    """``config`` read again from its file, with its ``-c`` overrides (and ``extra_overrides``)."""
    overrides = (*config.overrides, *extra_overrides)
    return load_config(config.home, overrides, config.profile)


def write_edits(
    config: Config,
    edits: Sequence[Edit],
    *,
    expected_version: str | None = None,
    file_path: str | None = None,
) -> WriteResult:
    """Apply ``edits`` to ``config``'s file; see the module docstring for the rules."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    target = config.config_file
    if file_path is not None and _resolved(Path(file_path)) != _resolved(target):
        raise ConfigWriteError("configLayerReadonly", "Only writes to the user config are allowed")
    current = config_version(target)
    if expected_version is not None and expected_version != current:
        raise ConfigWriteError(
            "configVersionConflict",
            "Configuration was modified since last read. Fetch latest version and retry.",
        )
    try:
        text = target.read_text(encoding="utf-8") if target.exists() else ""
        doc = tomlkit.parse(text)
    except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
        raise ConfigWriteError("configValidationError", f"cannot read {target}: {exc}") from exc
    for edit in edits:
        _apply(doc, split_key_path(edit.key_path), edit)
    new_text = tomlkit.dumps(doc)
    _check(config, new_text)
    _replace_file(target, new_text)
    try:
        reloaded = reload_config(config)
    except ConfigError as exc:  # the checked text loads; only a relative path could differ
        raise ConfigWriteError("configValidationError", f"Invalid configuration: {exc}") from exc
    return WriteResult(
        _resolved(target),
        config_version(target),
        reloaded,
        _overridden(config.overrides, edits),
        overrides_version(config),
    )


def overrides_version(config: Config) -> str:
    """``sha256:<hex>`` of the ``-c`` overrides: the version of the session-flags layer."""
    return "sha256:" + hashlib.sha256("\n".join(config.overrides).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of the effective config, highest precedence first in :func:`layers`."""

    kind: Literal["sessionFlags", "user"]
    version: str
    tree: dict[str, Any]
    file: Path | None = None


def layers(config: Config) -> list[Layer]:
    """The ``-c`` overrides (when there are any) and the user's file, as they are now."""
    out: list[Layer] = []
    if config.overrides:
        tree: dict[str, Any] = {}
        for raw in config.overrides:
            path, value = parse_override(raw)
            node = tree
            for part in path[:-1]:
                child = node.get(part)
                node = child if isinstance(child, dict) else node.setdefault(part, {})
                if not isinstance(node, dict):
                    break
            else:
                node[path[-1]] = value
        out.append(Layer("sessionFlags", overrides_version(config), tree))
    try:
        user = tomllib.loads(config.config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        user = {}
    out.append(
        Layer("user", config_version(config.config_file), user, _resolved(config.config_file))
    )
    return out


def leaf_keys(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of the values (not tables) in ``tree``."""
    out: list[str] = []
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.extend(leaf_keys(value, dotted))
        else:
            out.append(dotted)
    return out


def _overridden(overrides: Sequence[str], edits: Sequence[Edit]) -> tuple[str, Any] | None:
    """The first edit whose key a ``-c`` override sets (or sets inside of), with the value
    the override gives that key."""
    parsed = [parse_override(raw) for raw in overrides]
    for edit in edits:
        path = split_key_path(edit.key_path)
        for key, value in reversed(parsed):  # the last -c of a key wins
            if key == path:
                return edit.key_path, value
            if key[: len(path)] == path or path[: len(key)] == key:
                return edit.key_path, _dig(value, path[len(key) :])
    return None


def _dig(value: Any, path: Sequence[str]) -> Any:
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


# ---- editing ------------------------------------------------------------------------------


def _apply(doc: tomlkit.TOMLDocument, path: list[str], edit: Edit) -> None:
    import tomlkit

    container: Any = doc
    for depth, part in enumerate(path[:-1]):
        child = container.get(part)
        if child is None:
            if edit.value is None:
                return  # removing under an absent table: nothing to do
            child = tomlkit.table()
            container[part] = child
        elif not isinstance(child, Mapping):
            shown = ".".join(path[: depth + 1])
            raise ConfigWriteError(
                "configValidationError",
                f"Invalid configuration: `{shown}` is not a table, cannot set `{edit.key_path}`",
            )
        container = child
    leaf = path[-1]
    if edit.value is None:
        if leaf in container:
            del container[leaf]
        return
    existing = container.get(leaf)
    if (
        edit.merge_strategy == "upsert"
        and isinstance(existing, Mapping)
        and isinstance(edit.value, Mapping)
    ):
        _merge(existing, edit.value)
    else:
        container[leaf] = _item(edit.value)


def _merge(target: Any, value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        existing = target.get(key)
        if item is None:
            if key in target:
                del target[key]
        elif isinstance(existing, Mapping) and isinstance(item, Mapping):
            _merge(existing, item)
        else:
            target[key] = _item(item)


def _item(value: Any) -> Any:
    import tomlkit

    try:
        return tomlkit.item(_without_nulls(value))
    except (TypeError, ValueError) as exc:
        raise ConfigWriteError(
            "configValidationError", f"Invalid configuration: cannot write {value!r}: {exc}"
        ) from exc


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        if any(v is None for v in value):
            raise ConfigWriteError(
                "configValidationError", "Invalid configuration: TOML arrays cannot hold null"
            )
        return [_without_nulls(v) for v in value]
    return value


# ---- checking and writing -----------------------------------------------------------------


def _check(config: Config, text: str) -> None:
    """Raise unless ``text`` loads as a config (checked as at startup, ``-c`` overrides on top)."""
    with tempfile.TemporaryDirectory(prefix="threadline-config-") as tmp:
        probe = Path(tmp) / config.config_file.name
        probe.write_text(text, encoding="utf-8")
        try:
            load_config(Path(tmp), config.overrides, config.profile)
        except ConfigError as exc:
            where = f"\nin `{exc.key}`" if exc.key else ""
            raise ConfigWriteError(
                "configValidationError", f"Invalid configuration: {exc.problem}{where}"
            ) from exc


def _replace_file(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    fd, tmp_name = tempfile.mkstemp(prefix=".config.", suffix=".toml", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise ConfigWriteError("configWriteFailed", f"cannot write {target}: {exc}") from exc


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve(strict=False)
