"""SKILL.md discovery and parsing (core.skills, core.skill_files) on real directory
trees: the front matter subset and its errors, symlinks (followed, looping, leaving
the root), the depth limit, the system root, duplicate roots, enable/disable rules,
the config rule writer keeping the file's comments, and the hook config's discovery."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from threadline.core.hooks import discover
from threadline.core.skill_files import SkillParseError, parse_skill_text, parse_yaml_mapping
from threadline.core.skills import (
    MAX_SCAN_DEPTH,
    SkillRoot,
    SkillRule,
    load_skills,
    read_rules,
    skill_roots,
    skills_message,
    write_rule,
)


def _skill(d: Path, name: str, desc: str = "Does things.") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    path = d / "SKILL.md"
    path.write_text(f"---\nname: {name}\ndescription: {desc}\n---\nbody\n", encoding="utf-8")
    return path


def test_front_matter_subset() -> None:
    data = parse_yaml_mapping(
        'name: "quoted: yes"\n'
        "description: |\n  line one\n  line two\n"
        "metadata:\n  short-description: 'it''s short'  \n  other: x # comment\n"
        "flag: true\n"
        "# a comment\n"
        "empty:\n"
    )
    assert data == {
        "name": "quoted: yes",
        "description": "line one\nline two",
        "metadata": {"short-description": "it's short", "other": "x"},
        "flag": True,
        "empty": None,
    }
    info = parse_skill_text(
        "---\nname: '  spaced   name '\ndescription: >\n  folded\n  text\n---\n",
        Path("/x/s/SKILL.md"),
    )
    assert info == {"name": "spaced name", "description": "folded text", "short_description": None}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "missing YAML frontmatter delimited by ---"),
        ("---\nname: a\ndescription: b\n", "missing YAML frontmatter delimited by ---"),
        ("---\nname: a\n---\n", "missing field `description`"),
        ("---\nname: a\n  description: b\n---\n", "invalid YAML: line 2: unexpected indentation"),
        ("---\njust text\n---\n", "invalid YAML: line 1: expected `key: value`"),
        ("---\n- a\n---\n", "invalid YAML: line 1: a sequence where a mapping was expected"),
        (
            '---\nname: a\ndescription: "open\n---\n',
            "invalid YAML: line 2: bad double-quoted string",
        ),
        ("---\nname: a\ndescription: [1, 2\n---\n", "invalid YAML: line 2"),
        ("---\nname: a\ndescription: &anchor x\n---\n", "invalid YAML: line 2: unsupported syntax"),
        (
            "---\nname: a\ndescription:\n  - item\n---\n",
            "invalid description: must be a string",
        ),
        (
            f"---\nname: {'n' * 65}\ndescription: d\n---\n",
            "invalid name: exceeds maximum length of 64",
        ),
        (f"---\nname: a\ndescription: {'d' * 1025}\n---\n", "invalid description: exceeds maximum"),
        ("---\nname: a\ndescription: 12\n---\n", ""),  # a number is kept as text
    ],
)
def test_front_matter_errors(text: str, message: str) -> None:
    if not message:
        assert parse_skill_text(text, Path("/r/a/SKILL.md"))["description"] == "12"
        return
    with pytest.raises(SkillParseError) as err:
        parse_skill_text(text, Path("/r/a/SKILL.md"))
    assert str(err.value).startswith(message)


def test_a_skill_without_a_name_is_named_by_its_directory(tmp_path: Path) -> None:
    d = tmp_path / "root" / "my-skill"
    d.mkdir(parents=True)
    (d / "SKILL.md").write_text("---\ndescription: x\n---\n", encoding="utf-8")
    out = load_skills([SkillRoot(tmp_path / "root", "user")])
    assert [s.name for s in out.skills] == ["my-skill"]


def test_symlinks_loops_depth_and_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _skill(root / "a", "a")
    outside = tmp_path / "outside"
    _skill(outside / "b", "b")
    os.symlink(outside, root / "linked")  # followed for user roots
    os.symlink(root, root / "a" / "loop")  # a loop back to the root: visited once
    deep = root
    for i in range(MAX_SCAN_DEPTH + 1):  # the root is depth 0: this is depth 7
        deep = deep / f"d{i}"
    _skill(deep, "too-deep")  # its SKILL.md is below the depth limit
    _skill(deep.parent, "deep-enough")
    roots = [SkillRoot(root, "user"), SkillRoot(outside, "user")]  # b is found twice
    out = load_skills(roots)
    names = sorted(s.name for s in out.skills)
    assert names == ["a", "b", "deep-enough"]
    assert not out.errors
    by_name = {s.name: s for s in out.skills}
    assert by_name["b"].path == (outside / "b" / "SKILL.md").resolve()


def test_the_system_root_follows_no_links_and_reports_no_errors(tmp_path: Path) -> None:
    system = tmp_path / "skills" / ".system"
    _skill(system / "sys", "sys")
    (system / "broken").mkdir()
    (system / "broken" / "SKILL.md").write_text("nothing", encoding="utf-8")
    other = tmp_path / "other"
    _skill(other / "o", "o")
    os.symlink(other, system / "link")
    out = load_skills([SkillRoot(system, "system")])
    assert [(s.name, s.scope) for s in out.skills] == [("sys", "system")]
    assert out.errors == []


def test_roots_in_codex_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    cwd = repo / "a" / "b"
    cwd.mkdir(parents=True)
    roots = skill_roots(home, cwd, extra_roots=[tmp_path / "x"], user_home=tmp_path / "u")
    assert [(str(r.path.relative_to(tmp_path)), r.scope) for r in roots] == [
        ("repo/a/b/.codex/skills", "repo"),
        ("repo/a/.codex/skills", "repo"),
        ("repo/.codex/skills", "repo"),
        ("home/skills", "user"),
        ("u/.agents/skills", "user"),
        ("home/skills/.system", "system"),
        ("x", "user"),
        ("repo/.agents/skills", "repo"),
        ("repo/a/.agents/skills", "repo"),
        ("repo/a/b/.agents/skills", "repo"),
    ]
    # no marker: the cwd alone is the project
    lone = tmp_path / "lone"
    lone.mkdir()
    repo_roots = [r for r in skill_roots(home, lone) if r.scope == "repo"]
    assert [r.path for r in repo_roots] == [lone / ".codex/skills", lone / ".agents/skills"]


def test_rules_and_the_rule_writer(tmp_path: Path) -> None:
    root = tmp_path / "root"
    a = _skill(root / "a", "a").resolve()
    _skill(root / "b", "b")
    config = tmp_path / "config.toml"
    config.write_text('# mine\nmodel = "m"  # inline\n', encoding="utf-8")
    write_rule(config, name="a", path=None, enabled=False)
    write_rule(config, name=None, path=a, enabled=False)
    write_rule(config, name="b", path=None, enabled=False)
    write_rule(config, name="b", path=None, enabled=True)  # enabling removes the entry
    text = config.read_text(encoding="utf-8")
    assert text.startswith('# mine\nmodel = "m"  # inline\n')
    assert tomllib.loads(text)["skills"]["config"] == [
        {"name": "a", "enabled": False},
        {"path": str(a), "enabled": False},
    ]
    rules = read_rules(config)
    assert rules == [SkillRule("a", None, False), SkillRule(None, a, False)]
    out = load_skills([SkillRoot(root, "user")], rules)
    assert {s.name: s.enabled for s in out.skills} == {"a": False, "b": True}
    # a later name rule re-enables what a path rule disabled
    late = [*rules, SkillRule("a", None, True)]
    assert all(s.enabled for s in load_skills([SkillRoot(root, "user")], late).skills)
    message = skills_message(out.skills)
    assert message is not None and "- b: Does things." in message and "- a:" not in message
    assert skills_message([s for s in out.skills if s.name == "a"]) is None


def test_malformed_rules_are_ignored(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[[skills.config]]\nname = 'x'\npath = '/a'\nenabled = false\n"
        "[[skills.config]]\nenabled = false\n"
        "[[skills.config]]\nname = 'y'\nenabled = 'no'\n"
        "[[skills.config]]\npath = 'relative'\nenabled = false\n"
        "[[skills.config]]\nname = ' z '\nenabled = false\n",
        encoding="utf-8",
    )
    assert read_rules(config) == [SkillRule("z", None, False)]
    config.write_text("not toml [", encoding="utf-8")
    assert read_rules(config) == []


def test_hook_discovery_warnings_and_trust(tmp_path: Path) -> None:
    home = tmp_path
    (home / "config.toml").write_text(
        "[[hooks.PreToolUse]]\nmatcher = '['\n[[hooks.PreToolUse.hooks]]\ncommand = 'x'\n"
        "[[hooks.Stop]]\nmatcher = 'ignored'\n[[hooks.Stop.hooks]]\ncommand = 'y'\ntimeout = 0\n"
        "[[hooks.Stop.hooks]]\ncommand = '  '\n"
        "[[hooks.Nope]]\n[[hooks.Nope.hooks]]\ncommand = 'z'\n",
        encoding="utf-8",
    )
    (home / "hooks.json").write_text(
        '{"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "j"}]}]}}',
        encoding="utf-8",
    )
    found = discover(home)
    assert [(h.event, h.command, h.matcher, h.timeout_sec) for h in found.hooks] == [
        ("sessionStart", "j", None, 600),
        ("stop", "y", None, 1),
    ]
    assert found.hooks[0].key == f"{home / 'hooks.json'}:session_start:0:0"
    assert all(h.trust_status == "untrusted" and not h.runs for h in found.hooks)
    assert any("invalid matcher" in w for w in found.warnings)
    assert any("skipping empty hook command" in w for w in found.warnings)
    assert any("unknown hook event 'Nope'" in w for w in found.warnings)
    stop = found.hooks[1]
    with (home / "config.toml").open("a", encoding="utf-8") as f:
        f.write(f'[hooks.state."{stop.key}"]\ntrusted_hash = "{stop.current_hash}"\n')
    assert discover(home).for_event("stop") == [discover(home).hooks[1]]
    # an edit after trusting makes it "modified", and it stops running
    text = (
        (home / "config.toml")
        .read_text(encoding="utf-8")
        .replace("command = 'y'", "command = 'y2'")
    )
    (home / "config.toml").write_text(text, encoding="utf-8")
    changed = discover(home).hooks[1]
    assert changed.trust_status == "modified" and not changed.runs


def test_trust_hashes_are_codex_s(tmp_path: Path) -> None:
    """The hashes real Codex 0.169 reported in hooks/list for these two definitions."""
    command = "python3 /var/tmp/skh/hook.py"
    (tmp_path / "config.toml").write_text(
        f'[[hooks.PreToolUse]]\nmatcher = "Bash"\n[[hooks.PreToolUse.hooks]]\ntype = "command"\n'
        f'command = "{command}"\ntimeout = 30\nstatusMessage = "checking"\n'
        f'[[hooks.PostToolUse]]\n[[hooks.PostToolUse.hooks]]\ntype = "command"\n'
        f'command = "{command}"\n',
        encoding="utf-8",
    )
    pre, post = discover(tmp_path).hooks
    assert pre.current_hash == (
        "sha256:11499be7ad8f2073def916d1173589900a40971d1063fd9380618f47e06c0a79"
    )
    assert post.current_hash == (
        "sha256:a66ab3320b53e8982c3a06339315b96eed3e8c2608159d409c6ca49cfc34afd9"
    )


def test_openai_yaml_interface_dependencies_and_policy(tmp_path: Path) -> None:
    """What real Codex 0.169 made of this agents/openai.yaml: icons only under assets/,
    tool dependencies without a type or a value dropped, an explicit-only skill left
    out of the model's list."""
    root = tmp_path / "root"
    skill = _skill(root / "alpha", "alpha")
    (skill.parent / "agents").mkdir()
    (skill.parent / "agents" / "openai.yaml").write_text(
        "interface:\n"
        '  display_name: "Alpha UI"\n'
        '  short_description: "Short from yaml"\n'
        '  icon_small: "./assets/small.svg"\n'
        '  icon_large: "../outside.png"\n'
        '  brand_color: "#00aa44"\n'
        '  default_prompt: "Use $alpha."\n'
        "policy:\n"
        "  allow_implicit_invocation: false\n"
        "  products: [codex-cli]\n"
        "dependencies:\n"
        "  tools:\n"
        '    - type: "mcp"\n'
        '      value: "docs"\n'
        '      description: "Docs server"\n'
        '      transport: "streamable_http"\n'
        '      url: "https://example.com/mcp"\n'
        '    - type: "env_var"\n'
        '    - value: "novalue"\n',
        encoding="utf-8",
    )
    _skill(root / "beta", "beta")
    (root / "beta" / "agents").mkdir()
    (root / "beta" / "agents" / "openai.yaml").write_text("interface: [broken\n", encoding="utf-8")
    out = load_skills([SkillRoot(root, "user")])
    alpha, beta = out.skills
    assert dict(alpha.interface or {}) == {
        "display_name": "Alpha UI",
        "short_description": "Short from yaml",
        "icon_small": str(skill.parent.resolve() / "assets" / "small.svg"),
        "brand_color": "#00aa44",
        "default_prompt": "Use $alpha.",
    }
    assert dict(alpha.dependencies or {}) == {
        "tools": [
            {
                "type": "mcp",
                "value": "docs",
                "description": "Docs server",
                "transport": "streamable_http",
                "url": "https://example.com/mcp",
            }
        ]
    }
    assert alpha.implicit is False and beta.implicit is True
    assert beta.interface is None and not out.errors  # a bad openai.yaml hides nothing
    message = skills_message(out.skills)
    assert message is not None and "- beta:" in message and "alpha" not in message
