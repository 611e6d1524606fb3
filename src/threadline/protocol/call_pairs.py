"""Every tool call in a model request has its output, and every output its call.

A history can lose one side: a server killed while a call ran leaves the call without an
output (the call is written before it runs, the output after), and a rollback or a
compaction can cut a call away from its output. The Responses API refuses such a request
("No tool output found for function call ..."), so, as Codex does when it builds a
prompt, a call without an output gets one that says ``aborted`` right after it, and an
output without its call is left out. A healthy history passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from threadline.protocol.items import (
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    ResponseItem,
)

__all__ = ["ABORTED", "paired_calls"]

ABORTED = "aborted"
"""The output a call that never finished is given (Codex's word)."""

_CALLS = (FunctionCallItem, CustomToolCallItem)
_OUTPUTS = (FunctionCallOutputItem, CustomToolCallOutputItem)


def paired_calls(items: Sequence[ResponseItem]) -> list[ResponseItem]:
    """``items`` with a missing output added after each unanswered call and outputs of
    unknown calls dropped; the same list (copied) when nothing is missing."""
    calls = {i.call_id for i in items if isinstance(i, _CALLS)}
    answered = {i.call_id for i in items if isinstance(i, _OUTPUTS)}
    if calls == answered:
        return list(items)
    out: list[ResponseItem] = []
    for item in items:
        if isinstance(item, _OUTPUTS) and item.call_id not in calls:
            continue
        out.append(item)
        if isinstance(item, FunctionCallItem) and item.call_id not in answered:
            out.append(FunctionCallOutputItem(call_id=item.call_id, output=ABORTED))
        elif isinstance(item, CustomToolCallItem) and item.call_id not in answered:
            out.append(CustomToolCallOutputItem(call_id=item.call_id, output=ABORTED))
    return out
