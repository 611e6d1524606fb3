"""Writing legacy rollouts for store tests, through the real RolloutWriter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from threadline.protocol.items import assistant_text_message, user_text_message
from threadline.protocol.rollout import EventMsg, GitInfo, SessionMeta, TurnContextItem
from threadline.rollout.paths import new_thread_id, rollout_path_for
from threadline.rollout.writer import RolloutWriter

BASE_TIME = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def usage(total: int, last: int | None = None, window: int = 200_000) -> dict[str, object]:
    last = total if last is None else last
    return {
        "total_token_usage": {"input_tokens": total, "cached_input_tokens": 0, "output_tokens": 0,
                              "reasoning_output_tokens": 0, "total_tokens": total},
        "last_token_usage": {"input_tokens": last, "cached_input_tokens": 0, "output_tokens": 0,
                             "reasoning_output_tokens": 0, "total_tokens": last},
        "model_context_window": window,
    }


async def write_rollout(
    home: Path,
    *,
    created: datetime | None = None,
    thread_id: str | None = None,
    text: str = "hello there",
    provider: str = "openai",
    source: object = "cli",
    cwd: str = "/work/project",
    model: str = "gpt-test",
    turns: int = 1,
    tokens: int | None = 150,
    forked_from: str | None = None,
    git: GitInfo | None = None,
    context_prefix: bool = True,
) -> tuple[str, Path]:
    """One legacy rollout: meta, then per turn task_started/turn_context/messages/token_count/complete."""
    created = created or BASE_TIME
    thread_id = thread_id or new_thread_id()
    path = rollout_path_for(home, thread_id, created)
    meta = SessionMeta(
        id=thread_id, timestamp=stamp(created), cwd=cwd, originator="threadline_tests",
        cli_version="0.1.0", source=source, model_provider=provider,
        forked_from_id=forked_from, git=git,
    )
    writer = RolloutWriter.create(path, meta)
    total = 0
    for turn in range(turns):
        turn_id = f"{thread_id}-turn-{turn}"
        message = text if turn == 0 else f"{text} (turn {turn + 1})"
        items: list[object] = [EventMsg(type="task_started", turn_id=turn_id, model_context_window=200_000)]
        if turn == 0 and context_prefix:
            items.append(user_text_message("<environment_context><cwd>/x</cwd></environment_context>"))
        items += [
            TurnContextItem(turn_id=turn_id, cwd=cwd, approval_policy="never",
                            sandbox_policy={"type": "read-only"}, model=model, summary="auto"),
            user_text_message(message),
            EventMsg(type="user_message", message=message, images=[], local_images=[], text_elements=[]),
            assistant_text_message(f"reply {turn}"),
            EventMsg(type="agent_message", message=f"reply {turn}"),
        ]
        if tokens is not None:
            total += tokens
            items.append(EventMsg(type="token_count", info=usage(total, tokens), rate_limits=None))
        items.append(EventMsg(type="task_complete", turn_id=turn_id, last_agent_message=f"reply {turn}"))
        await writer.append(items)  # type: ignore[arg-type]
    await writer.close()
    return thread_id, path


def times(count: int, step_ms: int = 1000) -> list[datetime]:
    return [BASE_TIME + timedelta(milliseconds=step_ms * i) for i in range(count)]
