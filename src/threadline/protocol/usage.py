"""Token usage as the runtime and the rollout hold it (snake_case, Codex's names)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TokenUsage(BaseModel):
    """Usage of one model response, or a sum of several.

    ``cached_input_tokens`` is part of ``input_tokens`` and
    ``reasoning_output_tokens`` is part of ``output_tokens``. ``total_tokens``
    is copied from the model's own figure, never recomputed.
    """

    model_config = ConfigDict(extra="ignore")

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_input_tokens=self.cache_write_input_tokens + other.cache_write_input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_output_tokens=self.reasoning_output_tokens + other.reasoning_output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )

    def is_zero(self) -> bool:
        return self.total_tokens == 0 and self.input_tokens == 0 and self.output_tokens == 0


class TokenUsageInfo(BaseModel):
    """The session's usage snapshot: running total, latest response, context window."""

    model_config = ConfigDict(extra="ignore")

    total_token_usage: TokenUsage = TokenUsage()
    last_token_usage: TokenUsage = TokenUsage()
    model_context_window: int | None = None

    def updated(self, usage: TokenUsage, context_window: int | None) -> TokenUsageInfo:
        """Return the snapshot after one more model response (total += usage, last = usage)."""
        return TokenUsageInfo(
            total_token_usage=self.total_token_usage + usage,
            last_token_usage=usage,
            model_context_window=context_window
            if context_window is not None
            else self.model_context_window,
        )
