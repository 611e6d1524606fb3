"""Context compaction: when a thread's history gets too big, replace it by a shorter one.

When: the thread's estimated usage (what the last response reported plus an estimate for
the items recorded since) reaches the limit, 90 % of the model's context window, lowered
(never raised) by ``model_auto_compact_token_limit``. The turn loop asks before the first
sampling of a turn and after a response that needs a follow-up; ``thread/compact/start``
compacts on request, as a turn of its own.

How:

* **local** (every provider): one ordinary model request, without tools, asks for a
  hand-off note (``prompts/compact.md``). The new history is the initial context, the
  most recent user messages up to :data:`RETAINED_USER_TOKENS`, and the note behind
  ``prompts/summary_prefix.md``. If the model reports its context exceeded, the oldest
  items are dropped and the request retried; the client is told how many went.
* **remote** (the OpenAI provider, or a provider with ``remote_compaction = true``): an
  ordinary streamed request with a ``{"type": "compaction_trigger"}`` input item must
  return exactly one ``compaction`` item; the retained user and developer messages plus
  that item become the new history.

Images embedded as ``data:`` URLs are never copied into the new history: a text
placeholder names each one (its digest and size), so a rollout's ``compacted`` lines
stay as small as the text they carry.

Never a loop: after :data:`MAX_CONSECUTIVE_COMPACTIONS` compactions in a row without the
usage falling below the limit, the turn fails with :class:`CompactionExhausted`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

from threadline.core.session_history import history_length
from threadline.core.settings import ThreadSettings
from threadline.model.base import (
    ContextWindowExceeded,
    ModelClient,
    ModelError,
    ModelRequest,
    OutputItemDone,
    ResponseCompleted,
)
from threadline.protocol import events as ev
from threadline.protocol.call_pairs import paired_calls
from threadline.protocol.clock import now_ms
from threadline.protocol.items import (
    ContentItem,
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    OtherItem,
    ResponseItem,
    dump_response_item,
)
from threadline.protocol.rollout import CompactedItem, CompactionWindow, RolloutItem
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.item import ContextCompactionThreadItem

log = logging.getLogger(__name__)

__all__ = [
    "AUTO_COMPACT_PERCENT",
    "MAX_CONSECUTIVE_COMPACTIONS",
    "RETAINED_USER_TOKENS",
    "CompactionExhausted",
    "CompactionHost",
    "Compactor",
    "Phase",
    "Trigger",
    "auto_compact_limit",
    "compact_prompt",
    "estimate_tokens",
    "is_summary_message",
    "summary_prefix",
    "without_embedded_images",
]

AUTO_COMPACT_PERCENT = 90
"""Automatic compaction starts at this share of the model's (raw) context window."""

RETAINED_USER_TOKENS = 20_000
"""How many tokens of the most recent user messages a compacted history keeps (as Codex)."""

MAX_CONSECUTIVE_COMPACTIONS = 3
"""Compactions in a row, without the usage falling below the limit, before a turn fails."""

IMAGE_TOKEN_ESTIMATE = 1_000
"""What one embedded image counts for in the byte estimate (its base64 is not counted)."""

WARNING_MESSAGE = (
    "This thread's history was condensed to fit the model's context window. Details from "
    "earlier turns may now be missing or less precise; a new thread for a new task keeps "
    "the model's view of the work complete."
)

_CODEX_SUMMARY_PREFIX_START = "Another language model started to solve this problem"
"""How Codex's own summaries begin: a resumed Codex thread's summaries are not retained as
user messages either."""

ItemSink = Callable[[Any], Awaitable[None]]
"""Where a finished compaction item goes (the turn's ``complete_item``)."""

Trigger = Literal["auto", "manual"]
Phase = Literal["pre_turn", "mid_turn", "standalone"]


@cache
def _prompt(name: str) -> str:
    # Next to this module, not through importlib.resources (~7 ms of imports on the first
    # turn of a resumed thread, which loads this module).
    return (Path(__file__).parent / "prompts" / name).read_text("utf-8").strip()


def compact_prompt() -> str:
    """The request threadline appends to the history to get a hand-off note."""
    return _prompt("compact.md")


def summary_prefix() -> str:
    """The text that introduces the hand-off note in the compacted history."""
    return _prompt("summary_prefix.md")


class CompactionExhausted(ContextWindowExceeded):
    """The thread stays above its limit however often it is compacted."""


def auto_compact_limit(settings: ThreadSettings) -> int | None:
    """The usage at which a thread compacts: 90 % of the window, lowered by the config."""
    info = settings.model_info
    configured = info.auto_compact_token_limit
    window = info.context_window
    if window is None:
        return configured
    limit = window * AUTO_COMPACT_PERCENT // 100
    return limit if configured is None else min(configured, limit)


# ---- token estimate -------------------------------------------------------------------


@cache
def _encoder() -> Any | None:
    """A tokenizer when ``tiktoken`` and its encoding are available offline, else ``None``."""
    try:
        import importlib

        tiktoken = importlib.import_module("tiktoken")
        return tiktoken.get_encoding("o200k_base")
    except Exception:
        return None


def _text_tokens(text: str) -> int:
    enc = _encoder()
    if enc is not None:
        try:
            return len(enc.encode(text, disallowed_special=()))
        except Exception:  # a tokenizer bug must not stop the turn
            pass
    return (len(text.encode("utf-8", "surrogatepass")) + 3) // 4


def estimate_tokens(items: Sequence[ResponseItem], instructions: str | None = None) -> int:
    """Tokens ``items`` take in a request: a tokenizer's count when one is installed,
    else a quarter of their JSON bytes; each embedded image counts a fixed amount."""
    images = 0
    parts: list[str] = [instructions] if instructions else []
    for item in items:
        data = dump_response_item(item)
        images += _strip_images(data)
        parts.append(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return _text_tokens("\n".join(parts)) + images * IMAGE_TOKEN_ESTIMATE


def _strip_images(value: Any) -> int:
    """Blank out every ``data:`` URL inside ``value`` (in place); how many there were."""
    count = 0
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, str) and inner.startswith("data:") and "image" in key:
                value[key] = ""
                count += 1
            else:
                count += _strip_images(inner)
    elif isinstance(value, list):
        for inner in value:
            count += _strip_images(inner)
    return count


# ---- the new history ------------------------------------------------------------------


def _image_placeholder(url: str) -> str:
    head, _, payload = url.partition(",")
    try:
        raw = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        raw = payload.encode("utf-8", "replace")
    mime = head.removeprefix("data:").split(";")[0] or "image"
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return f"[image not carried over by compaction: {mime}, {len(raw)} bytes, sha256 {digest}]"


def without_embedded_images(item: MessageItem) -> MessageItem:
    """``item`` with each ``data:`` image replaced by a text placeholder naming it."""
    if not any(p.image_url and p.image_url.startswith("data:") for p in item.content):
        return item
    content: list[ContentItem] = []
    for part in item.content:
        url = part.image_url
        if url is not None and url.startswith("data:"):
            content.append(ContentItem(type="input_text", text=_image_placeholder(url)))
        else:
            content.append(part)
    return item.model_copy(update={"content": content})


def is_summary_message(item: ResponseItem) -> bool:
    """A hand-off note of an earlier compaction (threadline's or Codex's)."""
    if not isinstance(item, MessageItem) or item.role != "user":
        return False
    text = item.text()
    return text.startswith(summary_prefix()) or text.startswith(_CODEX_SUMMARY_PREFIX_START)


def _is_context_message(item: MessageItem) -> bool:
    text = item.text().lstrip()
    return text.startswith("<environment_context>") or text.startswith("<turn_aborted>")


def _retained_messages(history: Sequence[ResponseItem], *, budget: int) -> list[ResponseItem]:
    """The most recent user messages within ``budget`` tokens, oldest first; the one that
    crosses the budget is cut to fit. Context messages and earlier summaries are left out."""
    kept: list[ResponseItem] = []
    left = budget
    for item in reversed(history):
        if not isinstance(item, MessageItem) or is_summary_message(item):
            continue
        if item.role != "user" or _is_context_message(item):
            continue
        if left <= 0:
            continue
        clean = without_embedded_images(item)
        cost = estimate_tokens([clean])
        if cost > left:
            clean = _cut_to(clean, left)
        left -= cost
        kept.append(clean)
    kept.reverse()
    return kept


def _cut_to(item: MessageItem, tokens: int) -> MessageItem:
    text = item.text()
    keep = max(0, tokens * 4)
    cut = text[:keep] + "\n[... cut by compaction ...]" if len(text) > keep else text
    return item.model_copy(update={"content": [ContentItem(type="input_text", text=cut)]})


def _user(text: str) -> MessageItem:
    return MessageItem(role="user", content=[ContentItem(type="input_text", text=text)])


def _drop_oldest(items: list[ResponseItem], keep_head: int) -> int:
    """Drop the oldest item after the first ``keep_head`` (and the call or output it pairs
    with); returns how many items went (0 when nothing is left to drop)."""
    if len(items) <= keep_head:
        return 0
    first = items.pop(keep_head)
    dropped = 1
    call_id = getattr(first, "call_id", None)
    if call_id is not None and isinstance(
        first,
        FunctionCallItem | CustomToolCallItem | FunctionCallOutputItem | CustomToolCallOutputItem,
    ):
        pairs = [
            i
            for i, it in enumerate(items)
            if i >= keep_head and getattr(it, "call_id", None) == call_id
        ]
        for i in reversed(pairs):
            items.pop(i)
            dropped += 1
    return dropped


# ---- the runner -----------------------------------------------------------------------


class CompactionHost(Protocol):
    """What compaction needs of the session it runs in (``core.session.Session``)."""

    history: list[ResponseItem]
    token_info: TokenUsageInfo | None

    @property
    def thread_id(self) -> str: ...

    @property
    def settings(self) -> ThreadSettings: ...

    @property
    def model(self) -> ModelClient: ...

    def new_id(self) -> str: ...

    async def emit(self, turn_id: str, msg: ev.EventMsg) -> None: ...

    def deliver(self, event: ev.Event) -> None: ...

    async def persist(self, items: Sequence[RolloutItem], *, offered: bool = False) -> None: ...

    async def add_usage(self, turn_id: str, usage: TokenUsage) -> None: ...

    def context_items(self) -> list[ResponseItem]:
        """The initial context a new history starts with (developer text, environment)."""
        ...

    def turn_context_item(self, turn_id: str) -> RolloutItem: ...


@dataclass(slots=True)
class _Windows:
    """Codex's context-window numbering, written on each ``compacted`` line; a resumed
    thread continues from its newest one (:meth:`continuing`)."""

    first_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    current_id: str = ""
    number: int = 0

    def __post_init__(self) -> None:
        if not self.current_id:
            self.current_id = self.first_id

    @classmethod
    def continuing(cls, window: CompactionWindow | None) -> _Windows:
        if window is None:
            return cls()
        return cls(window.first_window_id, window.window_id, window.window_number)

    def advance(self) -> tuple[str, str, int]:
        """The next window: ``(previous_id, new_id, new_number)``."""
        previous = self.current_id
        self.current_id = str(uuid.uuid4())
        self.number += 1
        return previous, self.current_id, self.number


class Compactor:
    """Decides when a thread compacts and runs the compaction (one per session)."""

    def __init__(
        self, host: CompactionHost, *, remote: bool = False, window: CompactionWindow | None = None
    ) -> None:
        self.host = host
        self.remote = remote
        self.consecutive = 0
        self.usage_mark = history_length(host)  # a resumed history is not built for it
        """History length that the last reported usage covers."""
        self.windows = _Windows.continuing(window)
        """The window numbering: a resumed thread's ``window`` (its newest compaction) on."""

    # ---- when -----------------------------------------------------------------------

    def limit(self) -> int | None:
        return auto_compact_limit(self.host.settings)

    def estimated_usage(self) -> int:
        """The last reported usage plus an estimate for what was recorded since."""
        info = self.host.token_info
        reported = info.last_token_usage.total_tokens if info is not None else 0
        history = self.host.history
        since = history[self.usage_mark :] if self.usage_mark <= len(history) else history
        return reported + (estimate_tokens(since) if since else 0)

    def needs_compaction(self) -> bool:
        limit = self.limit()
        return limit is not None and self.estimated_usage() >= limit

    async def maybe_compact(
        self, turn_id: str, phase: Phase, complete: ItemSink | None = None
    ) -> bool:
        """Compact when the usage reached the limit; ``True`` when it did.

        Raises :class:`CompactionExhausted` instead of compacting a fourth time in a row.
        """
        if phase == "standalone":
            await self.compact(turn_id, trigger="manual", phase=phase, complete=complete)
            return True
        if not self.needs_compaction():
            self.consecutive = 0
            return False
        if self.consecutive >= MAX_CONSECUTIVE_COMPACTIONS:
            used, limit = self.estimated_usage(), self.limit()
            raise CompactionExhausted(
                f"This thread cannot be compacted any further: after {self.consecutive} "
                f"compactions in a row its context still needs about {used} tokens, over the "
                f"limit of {limit}. Start a new thread (or fork this one from an earlier turn) "
                "and bring over only what the next step needs, or use a model with a larger "
                "context window."
            )
        await self.compact(turn_id, trigger="auto", phase=phase, complete=complete)
        return True

    # ---- how ------------------------------------------------------------------------

    async def compact(
        self, turn_id: str, *, trigger: Trigger, phase: Phase, complete: ItemSink | None = None
    ) -> None:
        """Run one compaction inside turn ``turn_id`` and install its history; ``complete``
        keeps the finished item in the turn (else it is only announced).

        The item started here always ends: when an interrupt cancels the summary request,
        or the request fails, it is completed all the same (the history is then unchanged)
        before the cancellation or the error goes on.
        """
        th = self.host
        started = now_ms()
        item = ContextCompactionThreadItem(id=th.new_id(), started_at_ms=started)
        await th.emit(turn_id, ev.ItemStarted(turn_id=turn_id, item=item, started_at_ms=started))
        try:
            run = self._remote if self.remote else self._local
            history, message = await run(turn_id)
        except BaseException:
            try:
                await self._complete(turn_id, item, complete)
            except Exception:
                log.exception("thread %s: could not end the compaction item", th.thread_id)
            raise
        previous, window_id, number = self.windows.advance()
        compacted = CompactedItem.model_validate(
            {
                "message": message,
                "replacement_history": [dump_response_item(i) for i in history],
                "window_number": number,
                "first_window_id": self.windows.first_id,
                "previous_window_id": previous,
                "window_id": window_id,
            }
        )
        th.history[:] = history  # the transcript (turns) is untouched; only the model's view
        await th.persist([compacted, th.turn_context_item(turn_id)])
        self.usage_mark = len(history)
        if trigger == "auto":
            self.consecutive += 1
        estimate = estimate_tokens(history, th.settings.base_instructions)
        await self._report_estimate(turn_id, estimate)
        await self._complete(turn_id, item, complete)
        th.deliver(ev.Event(turn_id, ev.ContextCompacted()))
        await th.emit(turn_id, ev.WarningEvent(message=WARNING_MESSAGE))
        log.info(
            "thread %s: compacted (%s, %s) to %d items, ~%d tokens",
            th.thread_id,
            trigger,
            phase,
            len(history),
            estimate,
        )

    async def _complete(
        self, turn_id: str, item: ContextCompactionThreadItem, complete: ItemSink | None
    ) -> None:
        ended = now_ms()
        done = item.model_copy(update={"completed_at_ms": ended})
        if complete is not None:
            await complete(done)
        else:
            await self.host.emit(
                turn_id, ev.ItemCompleted(turn_id=turn_id, item=done, completed_at_ms=ended)
            )

    async def _report_estimate(self, turn_id: str, tokens: int) -> None:
        """The recomputed usage of the new history, as Codex reports it: the running total
        unchanged, ``last`` the estimate (``token_count``, then the wire)."""
        th = self.host
        prev = th.token_info or TokenUsageInfo()
        th.token_info = TokenUsageInfo(
            total_token_usage=prev.total_token_usage,
            last_token_usage=TokenUsage(total_tokens=tokens),
            model_context_window=th.settings.model_context_window or prev.model_context_window,
        )
        await th.emit(turn_id, ev.TokenCount(info=th.token_info, rate_limits=None))
        th.deliver(ev.Event(turn_id, ev.TokenUsageUpdated(turn_id=turn_id, info=th.token_info)))

    def _request(self, turn_id: str, items: list[ResponseItem]) -> ModelRequest:
        th = self.host
        s = th.settings
        return ModelRequest(
            model=s.model,
            input=paired_calls(items),
            tools=[],
            instructions=s.base_instructions,
            reasoning_effort=s.model_info.reasoning_effort(s.reasoning_effort),
            reasoning_summary=s.model_info.reasoning_summary(s.reasoning_summary),
            parallel_tool_calls=s.model_info.parallel_tool_calls,
            prompt_cache_key=th.thread_id,
            extra_headers={
                "originator": s.originator,
                "session-id": th.thread_id,
                "thread-id": th.thread_id,
                "x-client-request-id": th.thread_id,
            },
            client_metadata={"thread_id": th.thread_id, "turn_id": turn_id},
        )

    async def _sample(
        self, turn_id: str, request: ModelRequest, *, record: bool = False
    ) -> list[ResponseItem]:
        """One streamed request; its output items (usage is reported, deltas are not).

        ``record``: the outputs are written to the rollout as ``response_item`` lines ahead
        of the usage, as Codex writes a local compaction's answer (never into the history:
        the ``compacted`` line that follows replaces it).
        """
        outputs: list[ResponseItem] = []
        usage: TokenUsage | None = None
        async for event in self.host.model.stream(request):
            if isinstance(event, OutputItemDone):
                outputs.append(event.item)
            elif isinstance(event, ResponseCompleted):
                usage = event.usage
        if record and outputs:
            await self.host.persist(outputs)
        if usage is not None:
            await self.host.add_usage(turn_id, usage)
        return outputs

    async def _local(self, turn_id: str) -> tuple[list[ResponseItem], str]:
        th = self.host
        context = th.context_items()
        prompt = _user(compact_prompt())
        items = list(th.history)
        head = _context_head(items)
        dropped = 0
        while True:
            request = self._request(turn_id, [*items, prompt])
            try:
                outputs = await self._sample(turn_id, request, record=True)
                break
            except ContextWindowExceeded:
                gone = _drop_oldest(items, head)
                if gone == 0:
                    raise
                dropped += gone
        if dropped:
            await th.emit(
                turn_id,
                ev.WarningEvent(
                    message=f"The model's context could not hold the whole thread, so the "
                    f"{dropped} oldest item(s) were left out of the summary it wrote."
                ),
            )
        summary = "\n".join(
            o.text() for o in outputs if isinstance(o, MessageItem) and o.role == "assistant"
        ).strip()
        if not summary:
            raise ModelError("compaction failed: the model returned no summary")
        message = f"{summary_prefix()}\n{summary}"
        retained = _retained_messages(th.history, budget=RETAINED_USER_TOKENS)
        return [*context, *retained, _user(message)], message

    async def _remote(self, turn_id: str) -> tuple[list[ResponseItem], str]:
        th = self.host
        trigger_item = OtherItem.model_validate({"type": "compaction_trigger"})
        request = self._request(turn_id, [*th.history, trigger_item])
        outputs = await self._sample(turn_id, request)
        found = [o for o in outputs if isinstance(o, OtherItem) and o.type == "compaction"]
        if len(found) != 1:
            raise ModelError(
                f"remote compaction failed: expected exactly one compaction item, got {len(found)}"
            )
        retained = _retained_messages(th.history, budget=RETAINED_USER_TOKENS)
        return [*th.context_items(), *retained, found[0]], ""


def _context_head(items: Sequence[ResponseItem]) -> int:
    """How many leading items are the initial context (never dropped when trimming)."""
    n = 0
    for item in items:
        if isinstance(item, MessageItem) and (
            item.role == "developer" or _is_context_message(item)
        ):
            n += 1
            continue
        break
    return n
