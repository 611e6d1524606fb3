"""config.toml with Codex's key names, profiles, ``-c`` overrides, errors, provider choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.core.config import ConfigError, load_config, parse_override
from threadline.core.providers import (
    default_provider_notice,
    effective_model,
    resolve_provider,
)
from threadline.model.base import ModelConfigError

FULL = """
model = "gpt-5.1-codex"
model_provider = "ollama-box"
approval_policy = "untrusted"
sandbox_mode = "workspace-write"
model_reasoning_effort = "high"
some_future_key = "kept"

[sandbox_workspace_write]
writable_roots = ["/tmp/extra"]
network_access = true

[model_providers.ollama-box]
name = "Ollama on the box"
base_url = "http://localhost:11434/v1"
wire_api = "chat"
query_params = { api-version = "1" }
http_headers = { X-Team = "core" }
request_max_retries = 2
stream_max_retries = 3
stream_idle_timeout_ms = 5000

[mcp_servers.docs]
command = "docs-server"
args = ["--stdio"]

[features]
web_search = true

[profiles.fast]
model = "small"
approval_policy = "never"
"""


def _home(tmp_path: Path, text: str) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")
    return home


def test_codex_key_names(tmp_path: Path) -> None:
    config = load_config(_home(tmp_path, FULL))
    assert config.model == "gpt-5.1-codex"
    assert config.model_provider == "ollama-box"
    assert config.approval_policy == "untrusted"
    assert config.sandbox_mode == "workspace-write"
    assert config.model_reasoning_effort == "high"
    assert config.sandbox_workspace_write.writable_roots == ("/tmp/extra",)
    assert config.sandbox_workspace_write.network_access is True
    box = config.model_providers["ollama-box"]
    assert (box.name, box.base_url, box.wire_api) == (
        "Ollama on the box",
        "http://localhost:11434/v1",
        "chat",
    )
    assert dict(box.query_params) == {"api-version": "1"}
    assert dict(box.http_headers) == {"X-Team": "core"}
    assert (box.request_max_retries, box.stream_max_retries, box.stream_idle_timeout_ms) == (
        2,
        3,
        5000,
    )
    assert config.mcp_servers["docs"].command == "docs-server"
    assert config.mcp_servers["docs"].args == ("--stdio",)
    assert config.feature_enabled("web_search")
    assert config.extra["some_future_key"] == "kept"
    assert config.to_json()["some_future_key"] == "kept"


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nowhere")
    assert config.model is None and config.model_provider is None
    assert config.approval_policy == "on-request"
    assert config.sandbox_mode == "read-only"


def test_override_values_are_toml_else_strings() -> None:
    assert parse_override("model=o3") == (["model"], "o3")
    assert parse_override('model="o3"') == (["model"], "o3")
    assert parse_override("model_context_window=4096") == (["model_context_window"], 4096)
    assert parse_override("features.x=true") == (["features", "x"], True)
    assert parse_override('sandbox_workspace_write.writable_roots=["/a","/b"]') == (
        ["sandbox_workspace_write", "writable_roots"],
        ["/a", "/b"],
    )
    assert parse_override("url=http://h:1/v1?a=b") == (["url"], "http://h:1/v1?a=b")
    with pytest.raises(ConfigError, match="missing"):
        parse_override("model")


def test_precedence_file_profile_override(tmp_path: Path) -> None:
    home = _home(tmp_path, FULL)
    assert load_config(home).model == "gpt-5.1-codex"
    fast = load_config(home, profile="fast")
    assert (fast.model, fast.approval_policy, fast.profile) == ("small", "never", "fast")
    assert fast.sandbox_mode == "workspace-write"  # untouched by the profile
    both = load_config(home, overrides=["model=from-c"], profile="fast")
    assert both.model == "from-c"
    # A profile chosen in the file itself.
    chosen = load_config(_home(tmp_path, 'profile = "fast"\n' + FULL))
    assert chosen.model == "small"


def test_with_overrides_validates_and_layers(tmp_path: Path) -> None:
    config = load_config(_home(tmp_path, FULL))
    changed = config.with_overrides(model="other", sandbox_mode="read-only")
    assert (changed.model, changed.sandbox_mode) == ("other", "read-only")
    assert config.model == "gpt-5.1-codex"
    with pytest.raises(ConfigError) as err:
        config.with_overrides(sandbox_mode="everything")
    assert err.value.source == "override" and err.value.key == "sandbox_mode"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('approval_policy = "sometimes"', "approval_policy", "expected one of"),
        ("model = 3", "model", "expected a string, got 3"),
        ("[features]\nweb = 1", "features.web", "expected true or false"),
        ('[model_providers.x]\nwire_api = "grpc"', "model_providers.x.wire_api", "expected one of"),
        (
            "[model_providers.x]\nrequest_max_retries = -1",
            "model_providers.x.request_max_retries",
            ">= 0",
        ),
        ("[mcp_servers.m]\nargs = []", "mcp_servers.m", '"command"'),
        (
            '[sandbox_workspace_write]\nwritable_roots = "/a"',
            "sandbox_workspace_write.writable_roots",
            "array",
        ),
    ],
)
def test_errors_name_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    home = _home(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(home)
    assert err.value.source == str(home / "config.toml")
    assert err.value.key == key
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{home / 'config.toml'}: {key}: ")


def test_errors_from_overrides_and_profiles(tmp_path: Path) -> None:
    home = _home(tmp_path, FULL + '\n[profiles.broken]\nsandbox_mode = "open"\n')
    with pytest.raises(ConfigError) as err:
        load_config(home, overrides=["approval_policy=maybe"])
    assert err.value.source == "-c override" and err.value.key == "approval_policy"
    with pytest.raises(ConfigError) as err:
        load_config(home, profile="broken")
    assert err.value.key == "profiles.broken.sandbox_mode"
    with pytest.raises(ConfigError, match='unknown profile "nope"'):
        load_config(home, profile="nope")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    home = _home(tmp_path, "model = \n")
    with pytest.raises(ConfigError) as err:
        load_config(home)
    assert err.value.source == str(home / "config.toml")
    assert "invalid TOML" in err.value.problem


# ---- providers ----------------------------------------------------------------------------


def test_default_provider_is_local_without_a_key(tmp_path: Path) -> None:
    config = load_config(tmp_path / "h")
    info = resolve_provider(config, env={})
    assert (info.id, info.wire_api) == ("local", "local")
    assert effective_model(config, env={}) == "smollm2-135m-instruct"
    notice = default_provider_notice(config, env={})
    assert notice is not None
    assert "smollm2-135m-instruct" in notice and "OPENAI_API_KEY" in notice
    assert str(tmp_path / "h" / "config.toml") in notice


def test_default_provider_is_openai_with_a_key(tmp_path: Path) -> None:
    config = load_config(tmp_path / "h")
    env = {"OPENAI_API_KEY": "sk-x"}
    info = resolve_provider(config, env=env)
    assert (info.id, info.wire_api, info.base_url) == (
        "openai",
        "responses",
        "https://api.openai.com/v1",
    )
    notice = default_provider_notice(config, env=env)
    assert notice is not None and notice.startswith("Using OpenAI")


def test_no_notice_when_a_provider_is_chosen(tmp_path: Path) -> None:
    config = load_config(tmp_path / "h", overrides=["model_provider=local"])
    assert default_provider_notice(config, env={}) is None


def test_openai_compatible_chat_provider(tmp_path: Path) -> None:
    config = load_config(_home(tmp_path, FULL))
    info = resolve_provider(config, env={})
    assert (info.id, info.wire_api, info.base_url) == (
        "ollama-box",
        "chat",
        "http://localhost:11434/v1",
    )
    assert dict(info.headers) == {"X-Team": "core"}
    assert info.stream_idle_timeout_s == 5.0


def test_provider_problems_are_config_errors(tmp_path: Path) -> None:
    unknown = load_config(tmp_path / "h", overrides=["model_provider=mystery"])
    with pytest.raises(ModelConfigError, match='"mystery" is not defined'):
        resolve_provider(unknown, env={})
    keyed = load_config(tmp_path / "h", overrides=["model_provider=openai"])
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        resolve_provider(keyed, env={})


def test_local_provider_with_a_model_path(tmp_path: Path) -> None:
    home = _home(
        tmp_path,
        'model_provider = "mine"\n[model_providers.mine]\nmodel_path = "models/tiny.gguf"\n',
    )
    info = resolve_provider(load_config(home), env={})
    assert info.wire_api == "local"
    assert info.model_path == home / "models" / "tiny.gguf"
    assert info.default_model == "tiny"
