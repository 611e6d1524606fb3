"""``paired_calls``: unanswered calls get ``aborted`` right after them, orphan outputs go."""

from __future__ import annotations

from threadline.protocol.call_pairs import ABORTED, paired_calls
from threadline.protocol.items import (
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    ResponseItem,
    user_text_message,
)


def test_a_healthy_history_is_unchanged() -> None:
    items: list[ResponseItem] = [
        user_text_message("hi"),
        FunctionCallItem(name="a", arguments="{}", call_id="c1"),
        FunctionCallItem(name="b", arguments="{}", call_id="c2"),
        FunctionCallOutputItem(call_id="c1", output="one"),
        FunctionCallOutputItem(call_id="c2", output="two"),
    ]
    assert paired_calls(items) == items


def test_missing_outputs_are_added_after_their_calls_and_orphans_dropped() -> None:
    call = FunctionCallItem(name="a", arguments="{}", call_id="c1")
    custom = CustomToolCallItem(name="apply_patch", input="*** Begin Patch", call_id="c2")
    orphan = FunctionCallOutputItem(call_id="gone", output="x")
    later = user_text_message("next")
    out = paired_calls([call, custom, orphan, later])
    assert out == [
        call,
        FunctionCallOutputItem(call_id="c1", output=ABORTED),
        custom,
        CustomToolCallOutputItem(call_id="c2", output=ABORTED),
        later,
    ]
