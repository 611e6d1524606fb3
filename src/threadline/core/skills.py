"""Skills: ``SKILL.md`` discovery where Codex looks, enable/disable rules in
``config.toml``, and the skills message the model gets.

Roots, in Codex's order (earlier roots win a skill found twice, by resolved path):

- repo: ``<dir>/.codex/skills`` for each directory from the cwd up to the project root
  (the nearest ancestor holding a ``project_root_markers`` entry, default ``.git``);
- user: ``$THREADLINE_HOME/skills`` (Codex's ``$CODEX_HOME/skills``) and
  ``$HOME/.agents/skills``; system: ``$THREADLINE_HOME/skills/.system``;
- user: the extra roots a client set with ``skills/extraRoots/set`` (per home, for the
  life of the process);
- repo: ``<dir>/.agents/skills`` for each directory from the project root down to the cwd.

Under a root every ``SKILL.md`` up to six levels deep is a skill (dot entries skipped,
symlinked directories followed except under the system root, at most 2000 directories
per root). A file that is no skill is reported in ``errors`` with Codex's message
(not for the system root). Skills are listed by scope (repo, user, system, admin), then
name, then path. ``[[skills.config]]`` entries (``name`` or ``path``, ``enabled``) in
the home's ``config.toml`` disable or re-enable skills; a later entry wins.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from threadline.core.skill_files import SkillParseError, parse_skill_text, read_metadata
from threadline.protocol.items import ContentItem, MessageItem
from threadline.protocol.records import record

SKILL_FILE = "SKILL.md"
MAX_SCAN_DEPTH = 6
MAX_DIRS_PER_ROOT = 2000
DEFAULT_PROJECT_ROOT_MARKERS = (".git",)
_SCOPE_RANK = {"repo": 0, "user": 1, "system": 2, "admin": 3}


@record
class SkillRoot:
    path: Path
    scope: str


@record
class Skill:
    name: str
    description: str
    path: Path
    scope: str
    short_description: str | None = None
    interface: Mapping[str, Any] | None = None
    dependencies: Mapping[str, Any] | None = None
    implicit: bool = True
    """``policy.allow_implicit_invocation``: False keeps it out of the model's list."""
    enabled: bool = True


@record
class SkillError:
    path: Path
    message: str


@dataclass(slots=True)
class SkillsOutcome:
    skills: list[Skill] = field(default_factory=list)
    errors: list[SkillError] = field(default_factory=list)


# ---- roots ----------------------------------------------------------------------------


def project_root(cwd: Path, markers: Sequence[str]) -> Path:
    """The nearest ancestor of ``cwd`` (itself included) holding one of ``markers``."""
    if not markers:
        return cwd
    for d in (cwd, *cwd.parents):
        if any(os.path.lexists(d / m) for m in markers):
            return d
    return cwd


def _dirs_root_to_cwd(cwd: Path, root: Path) -> list[Path]:
    out: list[Path] = []
    for d in (cwd, *cwd.parents):
        out.append(d)
        if d == root:
            break
    out.reverse()
    return out


def skill_roots(
    home: Path,
    cwd: Path,
    *,
    extra_roots: Sequence[Path] = (),
    user_home: Path | None = None,
    markers: Sequence[str] = DEFAULT_PROJECT_ROOT_MARKERS,
) -> list[SkillRoot]:
    """Every root a skills scan of ``cwd`` reads, in precedence order (see the module)."""
    dirs = _dirs_root_to_cwd(cwd, project_root(cwd, markers))
    roots = [SkillRoot(d / ".codex" / "skills", "repo") for d in reversed(dirs)]
    roots.append(SkillRoot(home / "skills", "user"))
    if user_home is not None:
        roots.append(SkillRoot(user_home / ".agents" / "skills", "user"))
    roots.append(SkillRoot(home / "skills" / ".system", "system"))
    roots.extend(SkillRoot(p, "user") for p in extra_roots)
    roots.extend(SkillRoot(d / ".agents" / "skills", "repo") for d in dirs)
    seen: set[Path] = set()
    out: list[SkillRoot] = []
    for r in roots:
        if r.path not in seen:
            seen.add(r.path)
            out.append(r)
    return out


# ---- scanning -------------------------------------------------------------------------


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):
        return p


def _scan_root(root: SkillRoot, out: SkillsOutcome) -> None:
    base = _resolved(root.path)
    if not base.is_dir():
        return
    follow = root.scope != "system"
    visited = {base}
    queue: deque[tuple[Path, int]] = deque([(base, 0)])
    while queue:
        d, depth = queue.popleft()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=follow)
                is_file = entry.is_file(follow_symlinks=follow)
            except OSError:
                continue
            if is_link and not follow:
                continue
            if is_dir:
                target = _resolved(path)
                if depth + 1 <= MAX_SCAN_DEPTH and target not in visited:
                    if len(visited) >= MAX_DIRS_PER_ROOT:
                        continue
                    visited.add(target)
                    queue.append((target, depth + 1))
                continue
            if is_file and entry.name == SKILL_FILE:
                _load_skill(path, root.scope, out)


def _load_skill(path: Path, scope: str, out: SkillsOutcome) -> None:
    try:
        text = path.read_text(encoding="utf-8")
        info = parse_skill_text(text, path)
    except (OSError, UnicodeDecodeError) as exc:
        if scope != "system":
            out.errors.append(SkillError(path, f"failed to read file: {exc}"))
        return
    except SkillParseError as exc:
        if scope != "system":
            out.errors.append(SkillError(path, str(exc)))
        return
    resolved = _resolved(path)
    interface, dependencies, implicit = read_metadata(resolved.parent)
    out.skills.append(
        Skill(
            name=info["name"],
            description=info["description"],
            short_description=info["short_description"],
            interface=interface,
            dependencies=dependencies,
            implicit=implicit,
            path=resolved,
            scope=scope,
        )
    )


def load_skills(roots: Sequence[SkillRoot], rules: Sequence[SkillRule] = ()) -> SkillsOutcome:
    """Scan ``roots``; skills found twice (same resolved path) are kept once, the first
    root's; ``rules`` set each skill's ``enabled``."""
    out = SkillsOutcome()
    for root in roots:
        _scan_root(root, out)
    seen: set[Path] = set()
    unique: list[Skill] = []
    for s in out.skills:
        if s.path not in seen:
            seen.add(s.path)
            unique.append(s)
    disabled = disabled_paths(unique, rules)
    unique = [replace(s, enabled=s.path not in disabled) for s in unique]
    unique.sort(key=lambda s: (_SCOPE_RANK.get(s.scope, 9), s.name, str(s.path)))
    out.skills = unique
    return out


# ---- enable / disable rules -----------------------------------------------------------


@record
class SkillRule:
    """One ``[[skills.config]]`` entry: a ``name`` or a ``path`` selector and ``enabled``."""

    name: str | None
    path: Path | None
    enabled: bool


def read_rules(config_file: Path) -> list[SkillRule]:
    """The ``[[skills.config]]`` entries of ``config_file`` (entries with neither or both
    selectors, or a non-boolean ``enabled``, are ignored, as Codex ignores them)."""
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    skills = data.get("skills")
    entries = skills.get("config") if isinstance(skills, dict) else None
    if not isinstance(entries, list):
        return []
    rules: list[SkillRule] = []
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("enabled"), bool):
            continue
        name, path = e.get("name"), e.get("path")
        if (name is None) == (path is None):
            continue
        if isinstance(name, str) and name.strip():
            rule = SkillRule(name.strip(), None, e["enabled"])
        elif isinstance(path, str) and os.path.isabs(path):
            rule = SkillRule(None, _resolved(Path(path)), e["enabled"])
        else:
            continue
        rules = [r for r in rules if (r.name, r.path) != (rule.name, rule.path)]
        rules.append(rule)
    return rules


def disabled_paths(skills: Sequence[Skill], rules: Sequence[SkillRule]) -> set[Path]:
    disabled: set[Path] = set()
    for rule in rules:
        hits = (
            [rule.path]
            if rule.path is not None
            else [s.path for s in skills if s.name == rule.name]
        )
        for p in hits:
            if p is None:
                continue
            if rule.enabled:
                disabled.discard(p)
            else:
                disabled.add(p)
    return disabled


_WRITE_LOCK = threading.Lock()


def write_rule(config_file: Path, *, name: str | None, path: Path | None, enabled: bool) -> None:
    """Record ``enabled`` for one selector in ``config_file``'s ``[[skills.config]]``,
    keeping the file's comments and layout (tomlkit). Disabling adds (or updates) the
    selector's entry; enabling removes it, as Codex does (skills are enabled by default)."""
    import tomlkit  # loads with the first write, not at start-up

    with _WRITE_LOCK:
        try:
            text = config_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        doc = tomlkit.parse(text)
        skills = doc.get("skills")
        if skills is None:
            skills = tomlkit.table(is_super_table=True)
            doc["skills"] = skills
        entries = skills.get("config")
        if entries is None:
            entries = tomlkit.aot()
            skills["config"] = entries
        key = ("name", name) if name is not None else ("path", str(path))

        def matches(e: Any) -> bool:
            return bool(e.get(key[0]) == key[1])

        kept = [e for e in entries if not matches(e)]
        if not enabled:
            entry = tomlkit.table()
            entry[key[0]] = key[1]
            entry["enabled"] = False
            entry.add(tomlkit.nl())
            kept.append(entry)
        while len(entries):
            entries.pop(0)
        for e in kept:
            entries.append(e)
        if not len(entries):
            del skills["config"]
            if not len(skills):
                del doc["skills"]
        tmp = config_file.with_name(config_file.name + ".tmp-skills")
        config_file.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        os.replace(tmp, config_file)


# ---- the per-home state and the model's message ----------------------------------------


class SkillsRegistry:
    """What one home's skills depend on beyond the disk: the client's extra roots."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._extra: tuple[Path, ...] = ()
        self._lock = threading.Lock()

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def extra_roots(self) -> tuple[Path, ...]:
        return self._extra

    def set_extra_roots(self, roots: Sequence[Path]) -> bool:
        """Replace the extra roots; True when they changed."""
        new = tuple(dict.fromkeys(roots))
        with self._lock:
            changed = new != self._extra
            self._extra = new
        return changed

    def roots(
        self, cwd: Path, markers: Sequence[str] = DEFAULT_PROJECT_ROOT_MARKERS
    ) -> list[SkillRoot]:
        user_home = os.environ.get("HOME")
        return skill_roots(
            self.home,
            cwd,
            extra_roots=self._extra,
            user_home=Path(user_home) if user_home else None,
            markers=markers,
        )

    def load(
        self, cwd: Path, markers: Sequence[str] = DEFAULT_PROJECT_ROOT_MARKERS
    ) -> SkillsOutcome:
        return load_skills(self.roots(cwd, markers), read_rules(self.config_file))


_REGISTRIES: dict[Path, SkillsRegistry] = {}
_REGISTRIES_LOCK = threading.Lock()


def registry_for(home: Path) -> SkillsRegistry:
    """The one :class:`SkillsRegistry` of ``home`` in this process."""
    key = _resolved(home)
    with _REGISTRIES_LOCK:
        reg = _REGISTRIES.get(key)
        if reg is None:
            reg = _REGISTRIES[key] = SkillsRegistry(key)
        return reg


SKILLS_OPEN = "<skills_instructions>"
SKILLS_CLOSE = "</skills_instructions>"


def skills_message(skills: Sequence[Skill]) -> str | None:
    """The developer text that tells the model which skills it may use (None when
    none is enabled): each skill's name, description and the absolute path of its
    ``SKILL.md``, and how to use one. As in Codex, a skill whose policy forbids implicit
    invocation is not listed."""
    usable = [s for s in skills if s.enabled and s.implicit]
    if not usable:
        return None
    lines = [
        SKILLS_OPEN,
        "## Skills",
        "Skills are task playbooks kept on disk, each in a `SKILL.md` file. The skills"
        " below are available in this session; each line gives the skill's name, what it is"
        " for, and where its `SKILL.md` is.",
        "### Available skills",
    ]
    lines += [f"- {s.name}: {s.description} (file: {s.path})" for s in usable]
    lines += [
        "### Using a skill",
        "- Use a skill when the user names it (`$name` or in plain words) or when the task"
        " plainly fits its description; a skill applies to the turn it was asked for.",
        "- Before acting, read the skill's `SKILL.md` in full. Paths it mentions are"
        " relative to the directory that holds it; prefer its scripts and templates over"
        " writing your own.",
        "- Open only the extra files the skill points to for this task.",
        "- If a skill is missing or cannot be read, say so in a line and carry on as well"
        " as you can without it.",
        SKILLS_CLOSE,
    ]
    return "\n".join(lines)


MAX_SKILL_BYTES = 1 << 20
_MENTION = re.compile(r"\$([A-Za-z0-9][A-Za-z0-9_.:-]*)")


def skill_injections(skills: Sequence[Skill], items: Sequence[Any]) -> list[str]:
    """The ``<skill>`` messages for the skills ``items`` (a user's input) names: a
    ``skill`` item (by path, else by name) or ``$name`` in its text, each skill once, in
    the order named. Only discovered, enabled skills are read (a client cannot point
    this at any file), at most 1 MiB of each."""
    enabled = [s for s in skills if s.enabled]
    by_path = {str(s.path): s for s in enabled}
    by_name: dict[str, Skill] = {}
    for s in enabled:
        by_name.setdefault(s.name, s)
    named: list[Skill] = []
    for item in items:
        kind = getattr(item, "type", None)
        if kind == "skill":
            path = str(_resolved(Path(item.path))) if os.path.isabs(item.path) else ""
            hit = by_path.get(path) or by_name.get(item.name)
            if hit is not None:
                named.append(hit)
        elif kind == "text":
            named += [by_name[m] for m in _MENTION.findall(item.text) if m in by_name]
    out: list[str] = []
    seen: set[Path] = set()
    for s in named:
        if s.path in seen:
            continue
        seen.add(s.path)
        try:
            with s.path.open("rb") as f:
                body = f.read(MAX_SKILL_BYTES).decode("utf-8", "replace")
        except OSError:
            continue
        out.append(f"<skill>\n<name>{s.name}</name>\n<path>{s.path}</path>\n{body}\n</skill>")
    return out


def project_root_markers(extra: Mapping[str, Any]) -> tuple[str, ...]:
    """``project_root_markers`` from the config's unknown keys, else ``(".git",)``."""
    raw = extra.get("project_root_markers")
    if isinstance(raw, (list, tuple)) and all(isinstance(m, str) for m in raw):
        return tuple(raw)
    return DEFAULT_PROJECT_ROOT_MARKERS


__all__ = [
    "SKILLS_CLOSE",
    "SKILLS_OPEN",
    "Skill",
    "SkillError",
    "SkillRoot",
    "SkillRule",
    "SkillsOutcome",
    "SkillsRegistry",
    "disabled_paths",
    "load_skills",
    "project_root",
    "project_root_markers",
    "read_rules",
    "registry_for",
    "skill_injections",
    "skill_roots",
    "skills_context_item",
    "skills_message",
    "write_rule",
]


def skills_context_item(home: Path, cwd: Path, extra: Mapping[str, Any]) -> MessageItem | None:
    """The developer message carrying :func:`skills_message` for a thread in ``cwd``
    (None when no skill is enabled)."""
    body = skills_message(registry_for(home).load(cwd, project_root_markers(extra)).skills)
    if body is None:
        return None
    return MessageItem(role="developer", content=[ContentItem(type="input_text", text=body)])
