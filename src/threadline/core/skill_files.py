"""Reading one ``SKILL.md``: its front matter (a small YAML subset) and the optional
``agents/openai.yaml`` beside it.

The front matter is the block between a first line ``---`` and the next line ``---``.
Only what skills use is understood: ``key: value`` pairs (plain, ``'single'`` or
``"double"`` quoted scalars, JSON-style ``[...]`` / ``{...}`` flow values, ``|`` / ``>``
block scalars), nested mappings by indentation (``metadata:`` then indented pairs) and
block sequences of scalars or mappings (``- type: mcp``). Anything else is an
``invalid YAML`` error naming the line, reported in ``skills/list``'s ``errors`` as
Codex does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_NAME_LEN = 64
MAX_DESCRIPTION_LEN = 1024


class SkillParseError(ValueError):
    """Why a ``SKILL.md`` is not a skill (the message is Codex's wording)."""


def extract_front_matter(text: str) -> str | None:
    """The text between the opening and the closing ``---`` lines, or None."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i])
    return None


def _scalar(raw: str, lineno: int) -> Any:
    value = raw.strip()
    if not value:
        return None
    if value[0] == '"':
        try:
            out = json.loads(value)
        except ValueError as exc:
            raise SkillParseError(f"invalid YAML: line {lineno}: bad double-quoted string") from exc
        if not isinstance(out, str):  # pragma: no cover - a JSON string literal
            raise SkillParseError(f"invalid YAML: line {lineno}: bad double-quoted string")
        return out
    if value[0] == "'":
        if len(value) < 2 or not value.endswith("'"):
            raise SkillParseError(f"invalid YAML: line {lineno}: unterminated single-quoted string")
        return value[1:-1].replace("''", "'")
    if value[0] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            pass
        inner = value[1:-1]
        if value[0] == "[" and value.endswith("]") and not any(c in inner for c in "[]{}"):
            # a flow sequence of plain scalars: ``[codex-cli, "app"]``
            return [_scalar(part, lineno) for part in inner.split(",") if part.strip()]
        raise SkillParseError(
            f"invalid YAML: line {lineno}: unsupported or unterminated flow collection"
        )
    if value[0] in "&*!%@`":
        raise SkillParseError(f"invalid YAML: line {lineno}: unsupported syntax {value[0]!r}")
    if " #" in value:
        value = value.split(" #", 1)[0].rstrip()
    if value in ("true", "True"):
        return True
    if value in ("false", "False"):
        return False
    if value in ("null", "~"):
        return None
    return value


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def parse_yaml_mapping(text: str) -> dict[str, Any]:
    """Parse the YAML subset described in the module docstring into a dict."""
    lines = text.split("\n")
    pos = 0

    def block(indent: int) -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(lines):
            line = lines[pos]
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                pos += 1
                continue
            if "\t" in line[: _indent(line) + 1]:
                raise SkillParseError(
                    f"invalid YAML: line {pos + 1}: tabs are not allowed for indentation"
                )
            ind = _indent(line)
            if ind < indent:
                return out
            if ind > indent:
                raise SkillParseError(f"invalid YAML: line {pos + 1}: unexpected indentation")
            if _is_item(stripped):
                raise SkillParseError(
                    f"invalid YAML: line {pos + 1}: a sequence where a mapping was expected"
                )
            key, sep, rest = stripped.partition(":")
            if not sep or (rest and not rest.startswith((" ", "\t"))):
                raise SkillParseError(f"invalid YAML: line {pos + 1}: expected `key: value`")
            key = key.strip().strip("'\"")
            lineno = pos + 1
            pos += 1
            rest = rest.strip()
            if rest in ("|", ">", "|-", ">-", "|+", ">+"):
                out[key] = _block_scalar(rest[0], ind)
            elif rest and not rest.startswith("#"):
                out[key] = _scalar(rest, lineno)
            else:
                out[key] = _nested(ind)
        return out

    def _is_item(stripped: str) -> bool:
        return stripped == "-" or stripped.startswith("- ")

    def _nested(parent: int) -> Any:
        """The value under a key (or a bare ``-``) that has none on its own line."""
        nxt = _next_content(pos)
        if nxt is None:
            return None
        ind = _indent(lines[nxt])
        if _is_item(lines[nxt].strip()) and ind >= parent:
            return sequence(ind)
        if ind > parent:
            return block(ind)
        return None

    def sequence(indent: int) -> list[Any]:
        nonlocal pos
        items: list[Any] = []
        while pos < len(lines):
            line = lines[pos]
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                pos += 1
                continue
            ind = _indent(line)
            if ind < indent or (ind == indent and not _is_item(stripped)):
                return items
            if ind > indent:
                raise SkillParseError(f"invalid YAML: line {pos + 1}: unexpected indentation")
            rest = stripped[1:].strip()
            lineno = pos + 1
            if not rest:
                pos += 1
                items.append(_nested(ind))
            elif _is_pair(rest):
                # ``- key: value``: a mapping whose keys line up with ``key``
                column = ind + len(stripped) - len(rest)
                lines[pos] = " " * column + rest
                items.append(block(column))
            else:
                pos += 1
                items.append(_scalar(rest, lineno))
        return items

    def _is_pair(text: str) -> bool:
        if text[0] in "\"'[{":
            return False
        key, sep, rest = text.partition(":")
        return bool(sep) and bool(key.strip()) and (not rest or rest[0] in " \t")

    def _next_content(start: int) -> int | None:
        for i in range(start, len(lines)):
            s = lines[i].strip()
            if s and not s.startswith("#"):
                return i
        return None

    def _block_scalar(style: str, parent: int) -> str:
        nonlocal pos
        body: list[str] = []
        width: int | None = None
        while pos < len(lines):
            line = lines[pos]
            if line.strip() and _indent(line) <= parent:
                break
            if line.strip():
                width = _indent(line) if width is None else width
                body.append(line[width:])
            else:
                body.append("")
            pos += 1
        while body and not body[-1]:
            body.pop()
        if style == "|":
            return "\n".join(body)
        return " ".join(b for b in body if b)

    return block(0)


def single_line(value: str) -> str:
    """Codex keeps names and descriptions on one line: whitespace runs become one space."""
    return " ".join(value.split())


def parse_skill_text(text: str, path: Path) -> dict[str, Any]:
    """``{name, description, short_description}`` of one ``SKILL.md``; raises
    :class:`SkillParseError` with Codex's message when the file is no skill."""
    front = extract_front_matter(text)
    if front is None:
        raise SkillParseError("missing YAML frontmatter delimited by ---")
    data = parse_yaml_mapping(front)
    raw_name = data.get("name")
    name = single_line(str(raw_name)) if raw_name is not None else ""
    if not name:
        name = single_line(path.parent.name) or "skill"
    raw_desc = data.get("description")
    if raw_desc is None:
        raise SkillParseError("missing field `description`")
    if not isinstance(raw_desc, str):
        raise SkillParseError("invalid description: must be a string")
    description = single_line(raw_desc)
    meta = data.get("metadata")
    short: str | None = None
    if isinstance(meta, dict) and meta.get("short-description") is not None:
        short = single_line(str(meta["short-description"])) or None
    for field, value in (("name", name), ("description", description)):
        limit = MAX_NAME_LEN if field == "name" else MAX_DESCRIPTION_LEN
        if len(value) > limit:
            raise SkillParseError(f"invalid {field}: exceeds maximum length of {limit} characters")
    if short is not None and len(short) > MAX_DESCRIPTION_LEN:
        raise SkillParseError(
            f"invalid metadata.short-description: exceeds maximum length of {MAX_DESCRIPTION_LEN} characters"
        )
    return {"name": name, "description": description, "short_description": short}


SkillMeta = tuple[dict[str, Any] | None, dict[str, Any] | None, bool]
"""``(interface, dependencies, implicit)``: what ``agents/openai.yaml`` adds to a skill."""


def read_metadata(skill_dir: Path) -> SkillMeta:
    """The skill's ``agents/openai.yaml``: its ``interface``, its ``dependencies`` and
    whether ``policy.allow_implicit_invocation`` lets the model pick the skill itself
    (default yes). Absent or unreadable, it adds nothing (it is optional: a bad one
    never hides the skill)."""
    meta = skill_dir / "agents" / "openai.yaml"
    try:
        if not meta.is_file():
            return None, None, True
        data = parse_yaml_mapping(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SkillParseError):
        return None, None, True
    policy = data.get("policy")
    implicit = not (isinstance(policy, dict) and policy.get("allow_implicit_invocation") is False)
    return _interface(data, skill_dir), _dependencies(data), implicit


_TOOL_LIMITS = {
    "type": MAX_NAME_LEN,
    "value": MAX_DESCRIPTION_LEN,
    "description": MAX_DESCRIPTION_LEN,
    "transport": MAX_NAME_LEN,
    "command": MAX_DESCRIPTION_LEN,
    "url": MAX_DESCRIPTION_LEN,
}


def _dependencies(data: dict[str, Any]) -> dict[str, Any] | None:
    """``dependencies.tools``: entries without a ``type`` and a ``value`` (or with a
    member over its length limit) are dropped, as Codex drops them."""
    deps = data.get("dependencies")
    tools = deps.get("tools") if isinstance(deps, dict) else None
    if not isinstance(tools, list):
        return None
    out: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        entry: dict[str, Any] = {}
        for key, limit in _TOOL_LIMITS.items():
            value = tool.get(key)
            if isinstance(value, str) and value.strip() and len(value) <= limit:
                entry[key] = single_line(value)
        if "type" in entry and "value" in entry:
            out.append(entry)
    return {"tools": out} if out else None


def _interface(data: dict[str, Any], skill_dir: Path) -> dict[str, Any] | None:
    """The ``interface`` block; icons only when they stay under the skill's ``assets/``."""
    iface = data.get("interface")
    if not isinstance(iface, dict):
        return None
    out: dict[str, Any] = {}
    for key in ("display_name", "short_description", "brand_color", "default_prompt"):
        value = iface.get(key)
        if isinstance(value, str) and value.strip():
            out[key] = single_line(value)
    for key in ("icon_small", "icon_large"):
        value = iface.get(key)
        if isinstance(value, str) and value:
            rel = Path(value)
            parts = [p for p in rel.parts if p != "."]
            if not rel.is_absolute() and parts and parts[0] == "assets" and ".." not in parts:
                out[key] = str(skill_dir.joinpath(*parts))
    return out or None


__all__ = [
    "MAX_DESCRIPTION_LEN",
    "MAX_NAME_LEN",
    "SkillMeta",
    "SkillParseError",
    "extract_front_matter",
    "parse_skill_text",
    "parse_yaml_mapping",
    "read_metadata",
    "single_line",
]
