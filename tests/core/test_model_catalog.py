"""The model table: Codex 0.169's catalog, its lookup and fallback, and the config overrides.

The expected values are what ``tools/probe_codex_models.py`` saw the real Codex 0.169.0
send and report against the mock model (see the module docstring of
``threadline.core.model_catalog``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.core.config import ConfigError, load_config
from threadline.core.model_catalog import (
    ModelOverrides,
    catalog,
    default_model_slug,
    model_info,
)
from threadline.core.settings import ThreadSettings
from threadline.core.setup import StartOptions, ThreadSetup
from threadline.protocol.ops import TurnOverrides


def test_catalog_order_visibility_and_default() -> None:
    slugs = [m.slug for m in catalog()]
    assert slugs == [
        "gpt-6.1-sol",
        "gpt-6-astra",
        "gpt-6-sol",
        "gpt-6-luna",
        "gpt-5.6-sol",
        "gpt-6.1-terra",
        "gpt-5.6-terra",
        "gpt-5.6-luna",
        "gpt-daybreak-blue-latest",
        "gpt-daybreak-red-latest",
        "gpt-5.5",
        "codex-auto-review",
    ]
    hidden = {m.slug for m in catalog() if m.hidden}
    assert hidden == {"gpt-daybreak-blue-latest", "gpt-daybreak-red-latest", "codex-auto-review"}
    assert default_model_slug() == "gpt-6.1-sol"


def test_gpt_5_5_gets_freeform_apply_patch_and_direct_tools() -> None:
    info = model_info("gpt-5.5")
    assert not info.used_fallback
    assert info.apply_patch_tool_type == "freeform"
    assert info.shell_type == "shell_command"
    assert info.context_window == 272_000
    assert info.effective_context_window == 258_400
    assert info.parallel_tool_calls is True
    assert info.supports_reasoning_summaries is True
    assert info.default_reasoning_effort == "medium"
    assert [e.effort for e in info.supported_reasoning_efforts] == [
        "low",
        "medium",
        "high",
        "xhigh",
    ]
    assert info.reasoning_effort(None) == "medium"
    assert info.reasoning_summary(None) is None  # default summary "none": left out
    assert info.reasoning_summary("detailed") == "detailed"
    assert info.input_modalities == ("text", "image")
    assert info.offers_view_image and info.offers_request_user_input and info.offers_web_search
    assert info.offers_goal_tools and info.offers_tool_search
    assert not info.offers_multi_agent
    assert not info.code_mode_only
    assert info.upgrade is not None and info.upgrade.model == "gpt-6-sol"


@pytest.mark.parametrize("slug", ["mock-model", "my-finetune", "gpt-5.1-codex", "gpt-oss-120b"])
def test_unknown_slugs_get_codex_fallback(slug: str) -> None:
    info = model_info(slug)
    assert info.used_fallback
    assert info.slug == info.display_name == slug
    # Issue #11: gpt-oss gets the JSON-function apply_patch (Codex 0.169 offers none).
    expected_patch = "function" if slug.startswith("gpt-oss") else None
    assert info.apply_patch_tool_type == expected_patch
    assert info.shell_type == "default"
    assert info.effective_context_window == 258_400
    assert info.supports_parallel_tool_calls is False
    assert info.parallel_tool_calls is True  # what Codex 0.169 sent anyway
    assert info.default_reasoning_effort is None and info.supported_reasoning_efforts == ()
    assert info.reasoning_effort(None) is None
    assert info.reasoning_summary(None) == "auto"
    assert info.offers_multi_agent and info.offers_web_search and not info.offers_tool_search
    assert info.visibility == "none" and info.hidden


def test_code_mode_models() -> None:
    info = model_info("gpt-6.1-terra")
    assert info.code_mode_only
    assert info.parallel_tool_calls is False
    assert info.effective_context_window == 475_000  # 500 000 x 95 %
    assert info.apply_patch_tool_type == "freeform"
    assert info.offers("apply_patch") and info.offers_multi_agent
    assert not info.offers_web_search
    assert model_info("gpt-daybreak-red-latest").effective_context_window == 353_400


@pytest.mark.parametrize(
    ("slug", "matched"),
    [
        ("gpt-5.5-2026-01-01", "gpt-5.5"),
        ("gpt-5.5-codex", "gpt-5.5"),
        ("gpt-6.1-sol-preview", "gpt-6.1-sol"),
        ("openai/gpt-5.5", "gpt-5.5"),
        ("my_ns-1/gpt-6-luna", "gpt-6-luna"),
        ("GPT-5.5", None),  # case-sensitive
        ("a/b/gpt-5.5", None),  # one namespace segment only
        ("bad.ns/gpt-5.5", None),
        ("gpt-5.1-codex-max-custom", None),
    ],
)
def test_prefix_and_namespace_matching(slug: str, matched: str | None) -> None:
    info = model_info(slug)
    assert info.slug == slug
    if matched is None:
        assert info.used_fallback
    else:
        assert not info.used_fallback
        assert info.display_name == model_info(matched).display_name
        assert info.apply_patch_tool_type == "freeform"


def test_longest_prefix_wins() -> None:
    # "gpt-6-sol-x" starts with "gpt-6-sol" only; the "-terra"/"-sol" siblings must not mix.
    assert model_info("gpt-6-sol-x").default_reasoning_effort == "medium"
    assert model_info("gpt-6.1-terra-x").effective_context_window == 475_000
    assert model_info("gpt-6.1-sol-x").effective_context_window == 258_400


def test_overrides_as_codex_applies_them() -> None:
    assert model_info(
        "gpt-5.5", ModelOverrides(context_window=100_000)
    ).effective_context_window == (95_000)
    # capped at max_context_window (272 000 for gpt-5.5 and the fallback, 872 000 for gpt-6)
    capped = model_info("mock-model", ModelOverrides(context_window=1_000_000))
    assert capped.effective_context_window == 258_400
    assert model_info("gpt-6-sol", ModelOverrides(context_window=800_000)).context_window == 800_000
    on = model_info("mock-model", ModelOverrides(supports_reasoning_summaries=True))
    assert on.supports_reasoning_summaries is True
    off = model_info("gpt-5.5", ModelOverrides(supports_reasoning_summaries=False))
    assert off.supports_reasoning_summaries is True  # Codex: false changes nothing
    assert (
        model_info("gpt-5.5", ModelOverrides(apply_patch_tool_type="none")).apply_patch_tool_type
        is None
    )
    assert (
        model_info(
            "gpt-5.1-codex", ModelOverrides(apply_patch_tool_type="function")
        ).apply_patch_tool_type
        == "function"
    )
    assert (
        model_info("openai/gpt-oss-20b").apply_patch_tool_type == "function"
        and model_info(
            "gpt-oss-120b", ModelOverrides(apply_patch_tool_type="none")
        ).apply_patch_tool_type
        is None
    )
    limits = model_info(
        "gpt-5.5", ModelOverrides(auto_compact_token_limit=5000, max_output_tokens=77)
    )
    assert (limits.auto_compact_token_limit, limits.max_output_tokens) == (5000, 77)
    assert model_info("gpt-5.5").max_output_tokens is None


def _write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")
    return home


def test_config_keys_reach_thread_settings(tmp_path: Path) -> None:
    home = _write(
        tmp_path / "h",
        'model_provider = "mock"\nmodel = "gpt-5.5"\n'
        "model_context_window = 200000\nmodel_max_output_tokens = 4096\n"
        "model_supports_reasoning_summaries = true\nmodel_auto_compact_token_limit = 150000\n"
        'apply_patch_tool_type = "function"\n'
        '[model_providers.mock]\nbase_url = "http://127.0.0.1:9/v1"\n',
    )
    config = load_config(home=home)
    assert config.to_json()["apply_patch_tool_type"] == "function"
    settings = ThreadSetup(config).settings_for(StartOptions(cwd=str(tmp_path)))
    info = settings.model_info
    assert info.slug == "gpt-5.5"
    assert info.apply_patch_tool_type == "function"
    assert info.context_window == 200_000
    assert settings.model_context_window == 190_000
    assert (info.max_output_tokens, info.auto_compact_token_limit) == (4096, 150_000)
    # a turn that switches the model gets that model's metadata, with the same overrides
    switched = settings.with_turn_overrides(TurnOverrides(model="gpt-6.1-terra"))
    assert switched.model_info.code_mode_only
    assert switched.model_info.context_window == 200_000
    assert switched.model_info.apply_patch_tool_type == "function"


def test_settings_default_to_the_table() -> None:
    base = ThreadSettings(model="mock-model", model_provider="mock", cwd="/")
    assert base.model_info.used_fallback and base.model_context_window == 258_400
    terra = base.with_turn_overrides(TurnOverrides(model="gpt-6.1-terra"))
    assert terra.model_context_window == 475_000


@pytest.mark.parametrize(
    ("line", "key", "problem"),
    [
        (
            'apply_patch_tool_type = "lark"',
            "apply_patch_tool_type",
            "expected one of freeform, function, none",
        ),
        ("apply_patch_tool_type = 1", "apply_patch_tool_type", "expected one of"),
        ("model_context_window = 0", "model_context_window", "expected an integer >= 1"),
        ('model_max_output_tokens = "many"', "model_max_output_tokens", "expected an integer"),
        ("model_auto_compact_token_limit = -5", "model_auto_compact_token_limit", ">= 1"),
        (
            'model_supports_reasoning_summaries = "yes"',
            "model_supports_reasoning_summaries",
            "true or false",
        ),
    ],
)
def test_bad_values_are_clear_errors(tmp_path: Path, line: str, key: str, problem: str) -> None:
    home = _write(tmp_path / "h", line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(home=home)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(home / "config.toml") in str(caught.value)


def test_bad_override_names_its_source(tmp_path: Path) -> None:
    home = _write(tmp_path / "h", "")
    with pytest.raises(ConfigError) as caught:
        load_config(home=home, overrides=["apply_patch_tool_type=grammar"])
    assert caught.value.source == "-c override"
    assert caught.value.key == "apply_patch_tool_type"
