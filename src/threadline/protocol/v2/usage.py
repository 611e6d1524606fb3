"""Token usage as reported to v2 clients (``thread/tokenUsage/updated``).

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from __future__ import annotations

from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.common import WireModel


class TokenUsageBreakdown(WireModel):
    cached_input_tokens: int
    input_tokens: int
    output_tokens: int
    reasoning_output_tokens: int
    total_tokens: int
    cache_write_input_tokens: int = 0

    @classmethod
    def from_usage(cls, usage: TokenUsage) -> TokenUsageBreakdown:
        """Convert the runtime's snake_case usage record."""
        return cls(
            total_tokens=usage.total_tokens,
            input_tokens=usage.input_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_input_tokens=usage.cache_write_input_tokens,
            output_tokens=usage.output_tokens,
            reasoning_output_tokens=usage.reasoning_output_tokens,
        )


class ThreadTokenUsage(WireModel):
    last: TokenUsageBreakdown
    total: TokenUsageBreakdown
    model_context_window: int | None = None

    @classmethod
    def from_info(cls, info: TokenUsageInfo) -> ThreadTokenUsage:
        """Build the wire snapshot from the session's ``TokenUsageInfo``."""
        return cls(
            total=TokenUsageBreakdown.from_usage(info.total_token_usage),
            last=TokenUsageBreakdown.from_usage(info.last_token_usage),
            model_context_window=info.model_context_window,
        )


class ThreadTokenUsageUpdatedNotification(WireModel):
    thread_id: str
    turn_id: str
    token_usage: ThreadTokenUsage


__all__ = [
    "ThreadTokenUsage", "ThreadTokenUsageUpdatedNotification", "TokenUsageBreakdown",
]
