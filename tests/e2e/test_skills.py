"""skills/list, skills/extraRoots/set, skills/config/write and the skills message over the
real stdio app-server: discovery where Codex 0.169 looks (the home's skills/, $HOME/.agents,
the repo's .codex/skills and .agents/skills, extra roots), Codex's errors for bad files,
the order Codex lists them in, config rules written with comments kept, skills/changed."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.e2e.conftest import StartClient
from tests.support.mock_model import MockModel, text


def _skill(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def _layout(tmp_path: Path, home: Path) -> tuple[Path, Path, Path]:
    user_home = tmp_path / "userhome"
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)
    sub = ws / "pkg"
    sub.mkdir()
    _skill(
        home / "skills" / "alpha" / "SKILL.md",
        "---\nname: alpha\ndescription: Alpha does A.\nmetadata:\n  short-description: short A\n---\nbody\n",
    )
    _skill(
        home / "skills" / "nested" / "deep" / "beta" / "SKILL.md",
        "---\nname: beta\ndescription: >\n  Beta folded\n  description.\n---\n",
    )
    _skill(home / "skills" / "noname" / "SKILL.md", "---\ndescription: 'named by its dir'\n---\n")
    _skill(
        home / "skills" / "alpha" / "agents" / "openai.yaml",
        'interface:\n  display_name: "Alpha UI"\n  icon_small: "./assets/a.svg"\n'
        "dependencies:\n  tools:\n    - type: mcp\n      value: docs\n",
    )
    _skill(home / "skills" / "bad" / "SKILL.md", "no front matter here\n")
    _skill(home / "skills" / "nodesc" / "SKILL.md", "---\nname: nodesc\n---\n")
    _skill(home / "skills" / "badyaml" / "SKILL.md", "---\nname: x\n  description: indented\n---\n")
    _skill(
        home / "skills" / ".hidden" / "SKILL.md", "---\nname: hidden\ndescription: skipped\n---\n"
    )
    _skill(
        user_home / ".agents" / "skills" / "mine" / "SKILL.md",
        "---\nname: mine\ndescription: From HOME/.agents.\n---\n",
    )
    _skill(
        ws / ".agents" / "skills" / "repo1" / "SKILL.md",
        "---\nname: repo1\ndescription: Repo skill.\n---\n",
    )
    _skill(
        sub / ".agents" / "skills" / "repo2" / "SKILL.md",
        "---\nname: repo2\ndescription: Sub skill.\n---\n",
    )
    _skill(
        ws / ".codex" / "skills" / "dotcodex" / "SKILL.md",
        "---\nname: dotcodex\ndescription: In .codex/skills.\n---\n",
    )
    _skill(
        tmp_path / "extra" / "ex1" / "SKILL.md", "---\nname: ex1\ndescription: Extra root.\n---\n"
    )
    return user_home, ws, sub


async def test_skills_list_roots_order_errors_and_config_write(
    start_client: StartClient, mock_home: Path, tmp_path: Path
) -> None:
    user_home, ws, sub = _layout(tmp_path, mock_home)
    config = mock_home / "config.toml"
    config.write_text(
        "# keep this comment\n" + config.read_text(encoding="utf-8"), encoding="utf-8"
    )
    client = await start_client(env={"HOME": str(user_home)})

    listed = await client.request("skills/list", {"cwds": [str(sub)]})
    [entry] = listed["data"]
    assert entry["cwd"] == str(sub)
    names = [(s["name"], s["scope"]) for s in entry["skills"]]
    assert names == [
        ("dotcodex", "repo"),
        ("repo1", "repo"),
        ("repo2", "repo"),
        ("alpha", "user"),
        ("beta", "user"),
        ("mine", "user"),
        ("noname", "user"),
    ]
    by_name = {s["name"]: s for s in entry["skills"]}
    assert by_name["alpha"]["shortDescription"] == "short A"
    assert by_name["alpha"]["path"] == str((mock_home / "skills/alpha/SKILL.md").resolve())
    alpha_dir = (mock_home / "skills/alpha").resolve()
    assert by_name["alpha"]["interface"] == {
        "displayName": "Alpha UI",
        "shortDescription": None,
        "iconSmall": str(alpha_dir / "assets/a.svg"),
        "iconLarge": None,
        "iconSmallUrl": None,
        "iconLargeUrl": None,
        "brandColor": None,
        "defaultPrompt": None,
    }
    assert by_name["alpha"]["dependencies"] == {"tools": [{"type": "mcp", "value": "docs"}]}
    assert "interface" not in by_name["beta"] and "dependencies" not in by_name["beta"]
    assert by_name["beta"]["description"] == "Beta folded description."
    assert "shortDescription" not in by_name["beta"]
    assert all(s["enabled"] for s in entry["skills"])
    errors = {Path(e["path"]).parent.name: e["message"] for e in entry["errors"]}
    assert errors["bad"] == "missing YAML frontmatter delimited by ---"
    assert errors["nodesc"] == "missing field `description`"
    assert errors["badyaml"].startswith("invalid YAML: line 2")
    assert "hidden" not in str(entry)

    # extra roots: a user-scope root until replaced; every set signals skills/changed
    await client.request("skills/extraRoots/set", {"extraRoots": [str(tmp_path / "extra")]})
    await client.wait_for_notification("skills/changed")
    listed = await client.request("skills/list", {"cwds": [str(ws)]})
    in_ws = [s["name"] for s in listed["data"][0]["skills"]]
    assert "ex1" in in_ws and "repo2" not in in_ws  # repo2 lives below ws, not above it
    bad = await client.request_error("skills/extraRoots/set", {"extraRoots": ["relative/dir"]})
    assert bad["code"] == -32600 and "extraRoots[0]" in bad["message"]  # Codex's code
    # a relative cwd is taken against the server's working directory, as Codex takes it
    relative = await client.request("skills/list", {"cwds": ["relative/dir"]})
    assert relative["data"][0]["cwd"] == "relative/dir"

    # disable by name, then enable again by path: the rule is written, comments kept
    wrote = await client.request("skills/config/write", {"name": "alpha", "enabled": False})
    assert wrote == {"effectiveEnabled": False}
    raw = config.read_text(encoding="utf-8")
    assert raw.startswith("# keep this comment\n")
    assert tomllib.loads(raw)["skills"]["config"] == [{"name": "alpha", "enabled": False}]
    listed = await client.request("skills/list", {"cwds": [str(ws)], "forceReload": True})
    assert {s["name"]: s["enabled"] for s in listed["data"][0]["skills"]}["alpha"] is False

    alpha_path = str((mock_home / "skills/alpha/SKILL.md").resolve())
    await client.request("skills/config/write", {"path": alpha_path, "enabled": False})
    await client.request("skills/config/write", {"name": "alpha", "enabled": True})
    rules = tomllib.loads(config.read_text(encoding="utf-8"))["skills"]["config"]
    assert rules == [{"path": alpha_path, "enabled": False}]
    listed = await client.request("skills/list", {"cwds": [str(ws)]})
    assert {s["name"]: s["enabled"] for s in listed["data"][0]["skills"]}["alpha"] is False
    await client.request("skills/config/write", {"path": alpha_path, "enabled": True})
    assert "skills" not in tomllib.loads(config.read_text(encoding="utf-8"))

    for params, code, field in (
        ({"enabled": True}, -32602, "exactly one of path or name"),
        ({"enabled": True, "name": "a", "path": alpha_path}, -32602, "exactly one of path or name"),
        ({"enabled": True, "name": " "}, -32602, "name"),
        ({"enabled": True, "path": "not/absolute"}, -32600, "path: must be an absolute path"),
    ):
        err = await client.request_error("skills/config/write", params)
        assert err["code"] == code and field in err["message"], err
    assert config.read_text(encoding="utf-8").startswith("# keep this comment\n")


async def test_model_gets_the_enabled_skills(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    user_home, ws, _sub = _layout(tmp_path, mock_home)
    with (mock_home / "config.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[skills.config]]\nname = "beta"\nenabled = false\n')
    client = await start_client(env={"HOME": str(user_home)})
    mock_model.enqueue(text("ok"))
    started = await client.request("thread/start", {"cwd": str(ws)})
    thread_id = started["thread"]["id"]
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]}
    )
    await client.wait_for_notification("turn/completed")
    [req] = mock_model.requests
    texts = [
        c["text"]
        for item in req.body["input"]
        if item.get("type") == "message" and item["role"] == "developer"
        for c in item["content"]
    ]
    [skills] = [t for t in texts if t.startswith("<skills_instructions>")]
    assert skills.endswith("</skills_instructions>")
    alpha = (mock_home / "skills/alpha/SKILL.md").resolve()
    assert f"- alpha: Alpha does A. (file: {alpha})" in skills
    assert "- repo1: Repo skill. (file: " in skills
    assert "beta" not in skills  # disabled in config.toml
    assert "nodesc" not in skills  # a bad file is no skill


async def test_skill_files_changing_on_disk_signal_skills_changed(
    start_client: StartClient, mock_home: Path, tmp_path: Path
) -> None:
    user_home, ws, _sub = _layout(tmp_path, mock_home)
    client = await start_client(env={"HOME": str(user_home)})
    await client.request("thread/start", {"cwd": str(ws)})
    await client.request("skills/list", {"cwds": [str(ws)]})
    # as in Codex: a loaded thread's skill roots are watched
    _skill(
        ws / ".agents" / "skills" / "late" / "SKILL.md", "---\nname: late\ndescription: New.\n---\n"
    )
    await client.wait_for_notification("skills/changed", timeout=10)
    listed = await client.request("skills/list", {"cwds": [str(ws)]})
    assert "late" in [s["name"] for s in listed["data"][0]["skills"]]
    # a rewrite counts too; other files do not
    (mock_home / "skills" / "notes.txt").write_text("not a skill", encoding="utf-8")
    (mock_home / "skills" / "alpha" / "SKILL.md").write_text(
        "---\nname: alpha\ndescription: Rewritten.\n---\n", encoding="utf-8"
    )
    await client.wait_for_notification("skills/changed", timeout=10)
    listed = await client.request("skills/list", {"cwds": [str(ws)]})
    alpha = [s for s in listed["data"][0]["skills"] if s["name"] == "alpha"]
    assert alpha[0]["description"] == "Rewritten."


async def test_named_skills_reach_the_model_as_codex_sends_them(
    start_client: StartClient, mock_home: Path, mock_model: MockModel, tmp_path: Path
) -> None:
    user_home, ws, _sub = _layout(tmp_path, mock_home)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the model", encoding="utf-8")
    client = await start_client(env={"HOME": str(user_home)})
    mock_model.enqueue(text("one"), text("two"))
    thread_id = (await client.request("thread/start", {"cwd": str(ws)}))["thread"]["id"]
    alpha = (mock_home / "skills/alpha/SKILL.md").resolve()
    await client.request(
        "turn/start",
        {
            "threadId": thread_id,
            "input": [
                {"type": "text", "text": "use the skill"},
                {"type": "skill", "name": "alpha", "path": str(alpha)},
                {"type": "skill", "name": "nope", "path": str(secret)},  # not a skill: ignored
            ],
        },
    )
    await client.wait_for_notification("turn/completed")
    await client.request(
        "turn/start",
        {"threadId": thread_id, "input": [{"type": "text", "text": "now $repo1 and $alpha"}]},
    )
    await client.wait_for_notification("turn/completed")

    def users(i: int) -> list[str]:
        return [
            c["text"]
            for item in mock_model.requests[i].body["input"]
            if item.get("type") == "message" and item["role"] == "user"
            for c in item["content"]
        ]

    alpha_text = alpha.read_text(encoding="utf-8")
    first = users(0)
    assert first[-2:] == [
        "use the skill",
        f"<skill>\n<name>alpha</name>\n<path>{alpha}</path>\n{alpha_text}\n</skill>",
    ]
    assert not any("not for the model" in t for t in first)
    repo1 = (ws / ".agents/skills/repo1/SKILL.md").resolve()
    second = users(1)
    assert second[-3] == "now $repo1 and $alpha"
    assert second[-2].startswith(f"<skill>\n<name>repo1</name>\n<path>{repo1}</path>\n---")
    assert second[-1].startswith("<skill>\n<name>alpha</name>")
    read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
    messages = [
        i for t in read["thread"]["turns"] for i in t["items"] if i["type"] == "userMessage"
    ]
    assert len(messages) == 2  # the injected skills are no user messages of their own
