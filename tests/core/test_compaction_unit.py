"""core/compaction's pure parts: the limit, the estimate, image placeholders, retained
messages and the prompt files shipped in the package."""

from __future__ import annotations

import base64

from threadline.core.compaction import (
    IMAGE_TOKEN_ESTIMATE,
    auto_compact_limit,
    compact_prompt,
    estimate_tokens,
    is_summary_message,
    summary_prefix,
    without_embedded_images,
)
from threadline.core.model_catalog import ModelOverrides
from threadline.core.settings import ThreadSettings
from threadline.protocol.items import ContentItem, MessageItem


def settings(window: int | None, limit: int | None) -> ThreadSettings:
    return ThreadSettings(
        model="mock-model",
        model_provider="mock",
        cwd="/",
        model_overrides=ModelOverrides(context_window=window, auto_compact_token_limit=limit),
    )


def test_limit_is_ninety_percent_of_the_window_lowered_never_raised_by_config() -> None:
    assert auto_compact_limit(settings(4000, None)) == 3600
    assert auto_compact_limit(settings(4000, 3000)) == 3000
    assert auto_compact_limit(settings(4000, 9000)) == 3600


def test_estimate_is_a_quarter_of_the_bytes_and_images_count_a_fixed_amount() -> None:
    small = MessageItem(role="user", content=[ContentItem(type="input_text", text="x" * 4000)])
    assert 1000 <= estimate_tokens([small]) <= 1100
    url = "data:image/png;base64," + base64.b64encode(b"\x89PNG" * 100_000).decode()
    image = MessageItem(role="user", content=[ContentItem(type="input_image", image_url=url)])
    assert IMAGE_TOKEN_ESTIMATE <= estimate_tokens([image]) < IMAGE_TOKEN_ESTIMATE + 100


def test_embedded_images_become_a_placeholder_that_names_them() -> None:
    raw = b"\x89PNG-bytes" * 10
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    item = MessageItem(
        role="user",
        content=[
            ContentItem(type="input_text", text="look"),
            ContentItem(type="input_image", image_url=url),
            ContentItem(type="input_image", image_url="https://example.com/a.png"),
        ],
    )
    clean = without_embedded_images(item)
    assert clean.content[0].text == "look"
    assert clean.content[1].type == "input_text"
    assert "image/png" in (clean.content[1].text or "")
    assert f"{len(raw)} bytes" in (clean.content[1].text or "")
    assert clean.content[2].image_url == "https://example.com/a.png"
    assert url not in clean.model_dump_json()


def test_prompts_ship_in_the_package_and_summaries_are_recognised() -> None:
    assert "hand-over" in compact_prompt()
    assert summary_prefix().startswith("[threadline hand-over]")
    ours = MessageItem(
        role="user", content=[ContentItem(type="input_text", text=summary_prefix() + "\nnote")]
    )
    codex = MessageItem(
        role="user",
        content=[
            ContentItem(
                type="input_text",
                text="Another language model started to solve this problem and produced a ...",
            )
        ],
    )
    plain = MessageItem(role="user", content=[ContentItem(type="input_text", text="hi")])
    assert is_summary_message(ours) and is_summary_message(codex)
    assert not is_summary_message(plain)
