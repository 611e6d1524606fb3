"""``[shell_environment_policy]`` in config.toml: parsing, layering and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.core.config import ConfigError, load_config
from threadline.sandbox.env_policy import ShellEnvironmentPolicy


def _home(tmp_path: Path, text: str) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")
    return home


def test_absent_table_gives_the_secure_default(tmp_path: Path) -> None:
    config = load_config(_home(tmp_path, 'model = "m"\n'))
    policy = config.shell_environment_policy
    assert policy == ShellEnvironmentPolicy()
    assert (policy.inherit, policy.ignore_default_excludes) == ("all", False)
    assert config.to_json()["shell_environment_policy"] == {
        "inherit": "all",
        "ignore_default_excludes": False,
        "exclude": [],
        "set": {},
        "include_only": [],
        "experimental_use_profile": False,
    }


def test_every_key_is_read(tmp_path: Path) -> None:
    config = load_config(
        _home(
            tmp_path,
            "[shell_environment_policy]\n"
            'inherit = "core"\n'
            "ignore_default_excludes = true\n"
            'exclude = ["AWS_*", "AZURE_*"]\n'
            'set = { CI = "1", MY_LLM = "given" }\n'
            'include_only = ["PATH", "HOME", "CI"]\n'
            "experimental_use_profile = true\n"
            "[model_providers.mine]\n"
            'base_url = "http://127.0.0.1:1/v1"\n'
            'env_key = "MY_LLM"\n'
            "[model_providers.other]\n"
            'base_url = "http://127.0.0.1:2/v1"\n'
            'env_key = "OTHER_CREDENTIAL"\n',
        )
    )
    policy = config.shell_environment_policy
    assert policy.inherit == "core"
    assert policy.ignore_default_excludes is True
    assert policy.exclude == ("AWS_*", "AZURE_*")
    assert dict(policy.set) == {"CI": "1", "MY_LLM": "given"}
    assert policy.include_only == ("PATH", "HOME", "CI")
    assert policy.experimental_use_profile is True
    assert config.provider_env_keys() == ("MY_LLM", "OTHER_CREDENTIAL")


def test_filters_is_codexs_newer_spelling_of_exclude_and_include_only(tmp_path: Path) -> None:
    config = load_config(
        _home(
            tmp_path,
            '[shell_environment_policy]\nfilters = { "AWS_*" = "exclude", "PATH" = "include" }\n',
        )
    )
    assert config.shell_environment_policy.exclude == ("AWS_*",)
    assert config.shell_environment_policy.include_only == ("PATH",)


def test_profile_and_override_layers_apply(tmp_path: Path) -> None:
    home = _home(
        tmp_path,
        '[shell_environment_policy]\ninherit = "none"\n'
        '[profiles.open.shell_environment_policy]\ninherit = "all"\n',
    )
    assert load_config(home).shell_environment_policy.inherit == "none"
    assert load_config(home, profile="open").shell_environment_policy.inherit == "all"
    over = load_config(home, overrides=['shell_environment_policy.exclude=["X_*"]'])
    assert over.shell_environment_policy.exclude == ("X_*",)
    changed = over.with_overrides(**{"shell_environment_policy.inherit": "core"})
    assert changed.shell_environment_policy.inherit == "core"
    assert changed.shell_environment_policy.exclude == ("X_*",)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('inherit = "some"', "shell_environment_policy.inherit", "expected one of all, core, none"),
        ("inherit = 1", "shell_environment_policy.inherit", "expected one of"),
        (
            'ignore_default_excludes = "yes"',
            "shell_environment_policy.ignore_default_excludes",
            "expected true or false",
        ),
        ('exclude = "AWS_*"', "shell_environment_policy.exclude", "array of strings"),
        ("exclude = [1]", "shell_environment_policy.exclude.0", "expected a string"),
        ('exclude = [""]', "shell_environment_policy.exclude", "empty pattern"),
        ('include_only = ["PATH", 2]', "shell_environment_policy.include_only.1", "a string"),
        ('set = ["A=1"]', "shell_environment_policy.set", "expected a table"),
        ("set = { A = 1 }", "shell_environment_policy.set.A", "expected a string, got 1"),
        ('set = { "A=B" = "1" }', "shell_environment_policy.set.A=B", "not a valid"),
        (
            "experimental_use_profile = 1",
            "shell_environment_policy.experimental_use_profile",
            "true or false",
        ),
        ('include-only = ["PATH"]', "shell_environment_policy.include-only", "unknown key"),
        (
            'filters = { "A" = "drop" }',
            "shell_environment_policy.filters.A",
            "expected one of include, exclude",
        ),
        (
            'filters = { "a" = "exclude", "A" = "include" }',
            "shell_environment_policy.filters.A",
            "duplicate pattern",
        ),
        (
            'exclude = ["X"]\nfilters = { "A" = "exclude" }',
            "shell_environment_policy.exclude",
            '"filters"',
        ),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    home = _home(tmp_path, f"[shell_environment_policy]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(home)
    assert err.value.source == str(home / "config.toml")
    assert err.value.key == key
    assert problem in err.value.problem


def test_not_a_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_home(tmp_path, 'shell_environment_policy = "all"\n'))
    assert err.value.key == "shell_environment_policy"
    assert "expected a table" in err.value.problem


def test_override_errors_name_the_override(tmp_path: Path) -> None:
    home = _home(tmp_path, "")
    with pytest.raises(ConfigError) as err:
        load_config(home, overrides=["shell_environment_policy.inherit=everything"])
    assert err.value.source == "-c override"
    assert err.value.key == "shell_environment_policy.inherit"
