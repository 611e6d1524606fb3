"""Retry policy shared by the HTTP model clients.

A single sampling attempt is an async iterator of :class:`ModelEvent`. When it fails
with a :class:`RetryableFailure` before producing any output event, the attempt is
started again after an exponential, jittered delay (or the server's ``Retry-After``).
Each pause is announced to the consumer as a :class:`RetryScheduled` event. Once the
attempt has produced output, a failure is final: replaying the request would repeat
deltas the consumer has already shown.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import openai

from threadline.model.base import (
    CONTEXT_LENGTH_EXCEEDED,
    ContextWindowExceeded,
    ModelError,
    ModelEvent,
    ModelRetriesExhausted,
    ResponseCreated,
    RetryScheduled,
)

__all__ = [
    "RetryPolicy",
    "RetryableFailure",
    "classify_sdk_error",
    "parse_retry_after",
    "stream_with_retries",
]


class RetryableFailure(Exception):
    """An attempt failed in a way worth retrying (429, 5xx, connection loss, early stream end)."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt; delay ``base * 2**(n-1)`` ± 10 % jitter."""

    max_retries: int = 4
    backoff_base_s: float = 0.2
    max_delay_s: float = 60.0

    def delay_s(self, retry_number: int, retry_after_s: float | None = None) -> float:
        if retry_after_s is not None and retry_after_s >= 0:
            return min(retry_after_s, self.max_delay_s)
        exp = self.backoff_base_s * (2.0 ** (retry_number - 1))
        jitter = random.uniform(0.9, 1.1)  # jitter only, not security related
        return min(exp * jitter, self.max_delay_s)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``Retry-After`` (or ``retry-after-ms``); ``None`` when absent or unparsable."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


async def stream_with_retries(
    attempt: Callable[[], AsyncGenerator[ModelEvent, None]], policy: RetryPolicy
) -> AsyncIterator[ModelEvent]:
    """Run ``attempt`` until it completes, retrying :class:`RetryableFailure` per ``policy``.

    Raises :class:`ModelRetriesExhausted` when every retry failed and :class:`ModelError`
    when a retryable failure happens after output was already yielded.
    """
    retry_number = 0
    while True:
        produced_output = False
        try:
            async with aclosing(attempt()) as events:
                async for event in events:
                    if not isinstance(event, ResponseCreated):
                        produced_output = True
                    yield event
            return
        except RetryableFailure as failure:
            if produced_output:
                raise ModelError(failure.message, status_code=failure.status_code) from failure
            retry_number += 1
            if retry_number > policy.max_retries:
                tries = policy.max_retries + 1
                raise ModelRetriesExhausted(
                    f"{failure.message} (gave up after {tries} attempt{'s' if tries != 1 else ''})",
                    status_code=failure.status_code,
                ) from failure
            delay = policy.delay_s(retry_number, failure.retry_after_s)
            yield RetryScheduled(
                attempt=retry_number,
                max_attempts=policy.max_retries,
                delay_s=delay,
                message=failure.message,
            )
            await asyncio.sleep(delay)


def _body_message(body: Any) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = inner.get("message")
            if isinstance(message, str) and message:
                return message
        elif isinstance(inner, str) and inner:
            return inner
    elif isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return None


def _body_code(body: Any) -> str | None:
    """The ``code`` of an error body (``{"error": {"code"}}`` or ``{"code"}``)."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"])
    return None


def classify_sdk_error(err: openai.APIError) -> ModelError | RetryableFailure:
    """Translate an SDK exception: 429/5xx/connection problems retry, other statuses do not."""
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        detail = _body_message(err.body)
        message = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(err.response.headers)
            return RetryableFailure(message, status_code=status, retry_after_s=retry_after)
        if _body_code(err.body) == CONTEXT_LENGTH_EXCEEDED:
            return ContextWindowExceeded(message, status_code=status)
        return ModelError(message, status_code=status)
    if isinstance(err, openai.APITimeoutError):
        return RetryableFailure("timed out waiting for the model server")
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else err.message
        return RetryableFailure(f"connection to the model server failed ({detail})")
    detail = _body_message(err.body) or err.message
    if _body_code(err.body) == CONTEXT_LENGTH_EXCEEDED:
        return ContextWindowExceeded(f"model stream error: {detail}")
    return ModelError(f"model stream error: {detail}")
