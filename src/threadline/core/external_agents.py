"""Importing another agent's setup (Claude Code's) into threadline:
``externalAgentConfig/detect`` and ``externalAgentConfig/import``.

What is found, and where it goes (``~`` is ``$HOME``; the claude home is ``~/.claude``):

* ``AGENTS_MD`` -- ``~/.claude/CLAUDE.md`` → ``$THREADLINE_HOME/AGENTS.md``; a repo's
  ``CLAUDE.md`` (or ``.claude/CLAUDE.md``) → the repo's ``AGENTS.md``. Only into a missing or
  empty file; Claude's names in the text become Codex's, as Codex's import does.
* ``SKILLS`` -- each folder of ``~/.claude/skills`` → ``$THREADLINE_HOME/skills``, of a repo's
  ``.claude/skills`` → its ``.agents/skills``; folders that exist already are left alone.
* ``CONFIG`` (home only) -- ``~/.claude/settings.json``: its ``env`` becomes
  ``[shell_environment_policy]`` ``inherit = "core"`` and ``set``; ``sandbox.enabled`` becomes
  ``sandbox_mode = "workspace-write"``. Only keys the config does not have are added.
* ``MCP_SERVER_CONFIG`` (home only) -- the ``mcpServers`` of ``~/.claude.json``: stdio servers
  (``command``, ``args``, ``env``) and HTTP ones (``url``) become ``[mcp_servers.<name>]``
  tables, unless one of that name exists.

Config edits go through ``core.config_write`` (comments and layout kept). Symlinked sources
are not followed out of the folder they are in (a skill folder's symlinks are skipped).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import tomllib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from threadline.core.config import Config
from threadline.core.config_write import ConfigWriteError, Edit, write_edits

__all__ = [
    "DetectedItem",
    "ImportRecord",
    "ItemOutcome",
    "detect",
    "history",
    "import_items",
    "remember",
]

ItemType = Literal["AGENTS_MD", "CONFIG", "SKILLS", "MCP_SERVER_CONFIG"]
_SUPPORTED: tuple[ItemType, ...] = ("AGENTS_MD", "CONFIG", "SKILLS", "MCP_SERVER_CONFIG")
_MAX_TEXT = 1 << 20  # a CLAUDE.md or settings file larger than this is not read


@dataclass(frozen=True, slots=True)
class DetectedItem:
    item_type: str
    description: str
    cwd: str | None = None
    skills: tuple[str, ...] = ()
    mcp_servers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    item_type: str
    cwd: str | None
    source: str | None
    target: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ImportRecord:
    import_id: str
    completed_at_ms: int
    provider_id: str | None
    outcomes: tuple[ItemOutcome, ...] = field(default_factory=tuple)


def _claude_home() -> Path:
    return Path(os.environ.get("HOME") or Path.home()) / ".claude"


def _claude_json() -> Path:
    return Path(os.environ.get("HOME") or Path.home()) / ".claude.json"


def _text(path: Path) -> str | None:
    """The text of a regular file (not a symlink to elsewhere), if not empty."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_TEXT:
            return None
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text if text.strip() else None


def _missing_or_empty(path: Path) -> bool:
    if not path.exists() and not path.is_symlink():
        return True
    return path.is_file() and not path.is_symlink() and _text(path) is None


def _json_object(path: Path) -> dict[str, Any] | None:
    raw = _text(path)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _repo_root(cwd: Path) -> Path | None:
    if not cwd.is_absolute() or not cwd.exists():
        return None
    current = cwd if cwd.is_dir() else cwd.parent
    for d in (current, *current.parents):
        if (d / ".git").exists():
            return d
    return current


def _repo_agents_source(root: Path) -> Path | None:
    for candidate in (root / "CLAUDE.md", root / ".claude" / "CLAUDE.md"):
        if _text(candidate) is not None:
            return candidate
    return None


def _skill_dirs(source: Path, target: Path) -> list[str]:
    try:
        names = sorted(p.name for p in source.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    return [n for n in names if not (target / n).exists()]


def _settings_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Config keys (dotted) that ``settings.json`` gives."""
    out: dict[str, Any] = {}
    env = settings.get("env")
    if isinstance(env, dict):
        values = {
            str(k): (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in env.items()
            if isinstance(v, (str, int, float, bool))
        }
        if values:
            out["shell_environment_policy.inherit"] = "core"
            out["shell_environment_policy.set"] = values
    sandbox = settings.get("sandbox")
    if isinstance(sandbox, dict) and sandbox.get("enabled") is True:
        out["sandbox_mode"] = "workspace-write"
    return out


def _missing_config(config: Config, values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` (dotted keys) that the config file does not set."""
    try:
        tree: Any = tomllib.loads(config.config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        tree = {}
    except (OSError, ValueError):
        return {}  # an unreadable config is not merged into
    missing: dict[str, Any] = {}
    for key, value in values.items():
        node: Any = tree
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            missing[key] = value
    return missing


def _mcp_servers(config: Config) -> dict[str, dict[str, Any]]:
    data = _json_object(_claude_json())
    servers = data.get("mcpServers") if data is not None else None
    if not isinstance(servers, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, spec in servers.items():
        if not isinstance(spec, dict) or name in config.mcp_servers:
            continue
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(name)):
            continue
        table: dict[str, Any] = {}
        if isinstance(spec.get("command"), str):
            table["command"] = spec["command"]
            args = spec.get("args")
            if isinstance(args, list) and all(isinstance(a, str) for a in args):
                table["args"] = args
            env = spec.get("env")
            if isinstance(env, dict):
                table["env"] = {str(k): str(v) for k, v in env.items() if isinstance(v, str)}
        elif isinstance(spec.get("url"), str):
            table["url"] = spec["url"]
        else:
            continue
        out[str(name)] = table
    return out


def detect(config: Config, *, include_home: bool, cwds: Sequence[str] = ()) -> list[DetectedItem]:
    """What could be imported (see the module docstring)."""
    items: list[DetectedItem] = []
    claude = _claude_home()
    if include_home:
        if _text(claude / "CLAUDE.md") is not None and _missing_or_empty(config.home / "AGENTS.md"):
            items.append(
                DetectedItem(
                    "AGENTS_MD", f"Import {claude / 'CLAUDE.md'} to {config.home / 'AGENTS.md'}"
                )
            )
        skills = _skill_dirs(claude / "skills", config.home / "skills")
        if skills:
            items.append(
                DetectedItem(
                    "SKILLS",
                    f"Copy skill folders from {claude / 'skills'} to {config.home / 'skills'}",
                    skills=tuple(skills),
                )
            )
        settings = _json_object(claude / "settings.json")
        if settings is not None and _missing_config(config, _settings_values(settings)):
            items.append(
                DetectedItem(
                    "CONFIG", f"Migrate {claude / 'settings.json'} into {config.config_file}"
                )
            )
        servers = _mcp_servers(config)
        if servers:
            items.append(
                DetectedItem(
                    "MCP_SERVER_CONFIG",
                    f"Add the MCP servers of {_claude_json()} to {config.config_file}",
                    mcp_servers=tuple(sorted(servers)),
                )
            )
    seen: set[Path] = set()
    for raw in cwds:
        root = _repo_root(Path(raw))
        if root is None or root in seen:
            continue
        seen.add(root)
        source = _repo_agents_source(root)
        if source is not None and _missing_or_empty(root / "AGENTS.md"):
            items.append(
                DetectedItem("AGENTS_MD", f"Import {source} to {root / 'AGENTS.md'}", str(root))
            )
        skills = _skill_dirs(root / ".claude" / "skills", root / ".agents" / "skills")
        if skills:
            items.append(
                DetectedItem(
                    "SKILLS",
                    f"Copy skill folders from {root / '.claude' / 'skills'} to "
                    f"{root / '.agents' / 'skills'}",
                    str(root),
                    skills=tuple(skills),
                )
            )
    return items


# ---- importing ----------------------------------------------------------------------------


_TERMS = ("claude code", "claude-code", "claude_code", "claudecode", "claude")


def _rewrite(text: str) -> str:
    """Claude's names as Codex's: ``CLAUDE.md`` → ``AGENTS.md``, "Claude (Code)" → "Codex"."""
    out = re.sub(r"(?<![A-Za-z0-9_])claude\.md(?![A-Za-z0-9_])", "AGENTS.md", text, flags=re.I)
    for term in _TERMS:
        out = re.sub(
            rf"(?<![A-Za-z0-9_]){re.escape(term)}(?![A-Za-z0-9_])", "Codex", out, flags=re.I
        )
    return out


def _write_new_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        raise OSError(f"{target} is a symbolic link")
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, target)


def _copy_skill(source: Path, target: Path) -> None:
    """Copy a skill folder; symlinks inside it are skipped (they could point anywhere)."""

    def ignore(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if (Path(directory) / n).is_symlink()]

    shutil.copytree(source, target, symlinks=False, ignore=ignore)
    for md in target.rglob("*"):
        if md.is_file() and md.name.lower() == "skill.md":
            md.write_text(_rewrite(md.read_text(encoding="utf-8", errors="replace")), "utf-8")


def _import_one(config: Config, item: DetectedItem) -> tuple[Config, list[ItemOutcome]]:
    claude = _claude_home()
    cwd = item.cwd or None
    root = _repo_root(Path(cwd)) if cwd else None
    if cwd and root is None:
        return config, [ItemOutcome(item.item_type, cwd, None, None, f"no such directory: {cwd}")]
    if item.item_type == "AGENTS_MD":
        source = _repo_agents_source(root) if root else claude / "CLAUDE.md"
        target = (root or config.home) / "AGENTS.md"
        text = _text(source) if source is not None else None
        if source is None or text is None or not _missing_or_empty(target):
            return config, []
        _write_new_text(target, _rewrite(text))
        return config, [ItemOutcome("AGENTS_MD", cwd, str(source), str(target))]
    if item.item_type == "SKILLS":
        src_dir = root / ".claude" / "skills" if root else claude / "skills"
        dst_dir = root / ".agents" / "skills" if root else config.home / "skills"
        outcomes = []
        for name in _skill_dirs(src_dir, dst_dir):
            dst_dir.mkdir(parents=True, exist_ok=True)
            _copy_skill(src_dir / name, dst_dir / name)
            outcomes.append(ItemOutcome("SKILLS", cwd, str(src_dir / name), str(dst_dir / name)))
        return config, outcomes
    if root is not None:  # CONFIG and MCP servers are imported into the home's config only
        return config, []
    if item.item_type == "CONFIG":
        settings = _json_object(claude / "settings.json") or {}
        missing = _missing_config(config, _settings_values(settings))
        if not missing:
            return config, []
        result = write_edits(config, [Edit(k, v) for k, v in missing.items()])
        done = ItemOutcome("CONFIG", None, str(claude / "settings.json"), str(result.file_path))
        return result.config, [done]
    servers = _mcp_servers(config)
    if not servers:
        return config, []
    edits = [Edit(f"mcp_servers.{json.dumps(name)}", table) for name, table in servers.items()]
    result = write_edits(config, edits)
    return result.config, [
        ItemOutcome("MCP_SERVER_CONFIG", None, f"{_claude_json()}#{name}", str(result.file_path))
        for name in servers
    ]


def import_items(
    config: Config, items: Sequence[DetectedItem], provider_id: str | None = None
) -> tuple[Config, ImportRecord]:
    """Import ``items``; each failure is recorded, the others still run."""
    outcomes: list[ItemOutcome] = []
    for item in items:
        if item.item_type not in _SUPPORTED:
            why = f"threadline does not import {item.item_type}"
            outcomes.append(ItemOutcome(item.item_type, item.cwd, None, None, why))
            continue
        try:
            config, done = _import_one(config, item)
        except (OSError, ConfigWriteError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            outcomes.append(ItemOutcome(item.item_type, item.cwd, None, None, message))
            continue
        outcomes.extend(done)
    record = ImportRecord(uuid.uuid4().hex, int(time.time() * 1000), provider_id, tuple(outcomes))
    return config, record


# ---- import history (this process only) --------------------------------------------------

_HISTORY: dict[Path, list[ImportRecord]] = {}


def remember(home: Path, record: ImportRecord) -> None:
    """Note a finished import (``externalAgentConfig/import`` or ``.../recordHistory``).

    Kept in this process only: the store has no table for import history yet.
    """
    _HISTORY.setdefault(home.resolve(), []).append(record)


def history(home: Path) -> list[ImportRecord]:
    """The imports noted for ``home``, oldest first."""
    return list(_HISTORY.get(home.resolve(), ()))
