"""Review mode (``review/start``): a turn whose work is a code review by a separate reviewer.

As in Codex, the reviewer does not see the thread's conversation: it samples with a history
of its own (the environment, then the review request), threadline's review instructions
(``prompts/review.md``) and the read-and-run tools only. What it does streams out in the
thread's turn (commands, reasoning, its answer as it is written); its final answer is
parsed as the JSON review it was asked for (findings with title, body, priority and code
location; an answer that is not JSON is taken as the overall explanation) and rendered as
text. The thread's turn then shows an ``exitedReviewMode`` item and an agent message with
that text, and the thread's history keeps the review for the model's next turn.

The rollout gets Codex's ``entered_review_mode`` (the request) and ``exited_review_mode``
(the parsed output) lines, and the two history messages.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from threadline.core.errors import InvalidRequest
from threadline.core.ids import new_thread_id
from threadline.core.settings import ThreadSettings
from threadline.core.turn import ActiveTurn, TurnHost, TurnRunner, now_ms
from threadline.core.user_input import context_items
from threadline.model.base import ModelClient, ModelError
from threadline.protocol import events as ev
from threadline.protocol.items import ContentItem, MessageItem, ResponseItem, user_text_message
from threadline.protocol.review_text import INTERRUPTED, render_review
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.item import (
    AgentMessageThreadItem,
    EnteredReviewModeThreadItem,
    ExitedReviewModeThreadItem,
    TextUserInput,
    ThreadItem,
    UserInput,
    UserMessageThreadItem,
)
from threadline.protocol.v2.turn import Turn
from threadline.tools.registry import AnswerHook, DecisionHook, ToolRegistry

__all__ = [
    "REVIEWER_TOOLS",
    "ReviewRequest",
    "ReviewTask",
    "parse_review_output",
    "prepare_review",
    "render_review",
    "review_instructions",
]

REVIEWER_TOOLS = ("exec_command", "write_stdin", "request_user_input", "view_image")
"""The tools the reviewer gets (the ones Codex's reviewer gets): it reads and runs, it does
not edit or plan."""

_ACTION_CONTEXT = (
    "The user ran a code review; the reviewer's full output follows. "
    "The user may ask you to address some of its findings."
)


def review_instructions() -> str:
    """The reviewer's instructions: threadline's own text in ``prompts/review.md``."""
    return (Path(__file__).parent / "prompts" / "review.md").read_text("utf-8").strip()


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """What to review: the wire ``ReviewTarget`` (as a dict), the hint a UI shows (the
    ``enteredReviewMode`` item's text) and the request the reviewer reads."""

    target: dict[str, Any]
    hint: str
    prompt: str


def _nonempty(target: dict[str, Any], key: str) -> str:
    value = target.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{key} must not be empty")
    return value.strip()


async def _merge_base(cwd: str, branch: str) -> str | None:
    """``git merge-base HEAD <branch>`` in ``cwd``, or ``None`` (not a repository, no such
    branch, or a name that git would read as an option)."""
    if branch.startswith("-"):
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            "git", "merge-base", "HEAD", branch,
            cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    except (OSError, TimeoutError):
        return None
    sha = out.decode("utf-8", "replace").strip()
    return sha if proc.returncode == 0 and re.fullmatch(r"[0-9a-f]{7,64}", sha) else None


async def prepare_review(target: dict[str, Any], cwd: str) -> ReviewRequest:
    """The request for a wire ``ReviewTarget``; ``InvalidRequest`` for an empty field."""
    kind = target.get("type")
    if kind == "uncommittedChanges":
        prompt = (
            "Review the uncommitted changes in this repository: what is staged, what is not, "
            "and the untracked files (`git status`, `git diff`, `git diff --staged`). "
            "Report your prioritized findings."
        )
        return ReviewRequest({"type": kind}, "current changes", prompt)
    if kind == "baseBranch":
        branch = _nonempty(target, "branch")
        base = await _merge_base(cwd, branch)
        if base is not None:
            prompt = (
                f"Review the changes of the current branch against the base branch '{branch}'. "
                f"Their merge base is commit {base}, so `git diff {base}` shows the changes to "
                "review. Report your prioritized findings."
            )
        else:
            prompt = (
                f"Review the changes of the current branch against the base branch '{branch}'. "
                f"Find their merge base first (`git merge-base HEAD {branch}`), then review "
                "`git diff` against it. Report your prioritized findings."
            )
        return ReviewRequest(
            {"type": kind, "branch": branch}, f"changes against '{branch}'", prompt
        )
    if kind == "commit":
        sha = _nonempty(target, "sha")
        title = target.get("title") if isinstance(target.get("title"), str) else None
        named = f' ("{title}")' if title else ""
        prompt = (
            f"Review the changes made by commit {sha}{named} (`git show {sha}`). "
            "Report your prioritized findings."
        )
        hint = f"commit {sha[:7]}: {title}" if title else f"commit {sha[:7]}"
        return ReviewRequest({"type": kind, "sha": sha, "title": title}, hint, prompt)
    if kind == "custom":
        instructions = _nonempty(target, "instructions")
        return ReviewRequest(
            {"type": kind, "instructions": instructions}, instructions, instructions
        )
    raise InvalidRequest(f"unknown review target type {kind!r}")


# ---- the review output ---------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finding(raw: Any) -> dict[str, Any] | None:
    """One finding in Codex's shape, or ``None`` when a field is missing or mistyped."""
    where = raw.get("code_location") if isinstance(raw, dict) else None
    span = where.get("line_range") if isinstance(where, dict) else None
    if not (isinstance(raw, dict) and isinstance(where, dict) and isinstance(span, dict)):
        return None
    if not (
        isinstance(raw.get("title"), str)
        and isinstance(raw.get("body"), str)
        and _is_number(raw.get("confidence_score"))
        and _is_int(raw.get("priority"))
        and isinstance(where.get("absolute_file_path"), str)
        and _is_int(span.get("start"))
        and _is_int(span.get("end"))
    ):
        return None
    return {
        "title": raw["title"],
        "body": raw["body"],
        "confidence_score": float(raw["confidence_score"]),
        "priority": raw["priority"],
        "code_location": {
            "absolute_file_path": where["absolute_file_path"],
            "line_range": {"start": span["start"], "end": span["end"]},
        },
    }


def _json_object(text: str) -> dict[str, Any] | None:
    candidates = [text.strip()]
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:
        candidates.append(text[first : last + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _review(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The review in ``raw`` when it is complete (Codex requires every field)."""
    if raw is None:
        return None
    listed = raw.get("findings")
    findings = [_finding(f) for f in listed] if isinstance(listed, list) else [None]
    correctness = raw.get("overall_correctness")
    explanation = raw.get("overall_explanation")
    score = raw.get("overall_confidence_score")
    if any(f is None for f in findings) or not (
        isinstance(correctness, str) and isinstance(explanation, str) and _is_number(score)
    ):
        return None
    return {
        "findings": findings,
        "overall_correctness": correctness,
        "overall_explanation": explanation,
        "overall_confidence_score": float(score or 0),
    }


def parse_review_output(text: str) -> dict[str, Any]:
    """The reviewer's answer as Codex's ``ReviewOutputEvent`` (snake_case): the JSON object
    in it (alone, or the span from its first ``{`` to its last ``}``) when every field is
    there, as Codex requires; otherwise the whole text as the overall explanation."""
    review = _review(_json_object(text))
    if review is not None:
        return review
    return {
        "findings": [],
        "overall_correctness": "",
        "overall_explanation": text.strip(),
        "overall_confidence_score": 0.0,
    }


def _user_action(rendered: str) -> ResponseItem:
    """The history message that hands the review to the thread's model."""
    return user_text_message(
        "<user_action>\n"
        f"  <context>{_ACTION_CONTEXT}</context>\n"
        "  <action>review</action>\n"
        "  <results>\n"
        f"  {rendered}\n"
        "  </results>\n"
        "  </user_action>\n"
    )


# ---- the reviewer's turn -------------------------------------------------------------

_DROPPED = (
    ev.TaskStarted, ev.TaskComplete, ev.TurnAborted, ev.ErrorEvent, ev.AgentMessage,
    ev.UserMessage, ev.TokenCount,
)  # fmt: skip
"""Reviewer events the thread does not repeat: the reviewer's turn boundaries, errors (the
thread's turn reports its own), usage (added to the thread's) and legacy message lines."""


class _ReviewerHost:
    """The reviewer's side of a review: a ``TurnHost`` with its own history, instructions
    and tools, whose output goes out in the thread's turn ``turn``."""

    def __init__(
        self, host: TurnHost, turn: ActiveTurn, settings: ThreadSettings, tools: ToolRegistry
    ) -> None:
        self._host = host
        self._turn = turn
        self._settings = settings
        self._tools = tools
        self._history: list[ResponseItem] = list(context_items(settings))

    @property
    def thread_id(self) -> str:
        return self._host.thread_id

    @property
    def settings(self) -> ThreadSettings:
        return self._settings

    @property
    def history(self) -> Sequence[ResponseItem]:
        return self._history

    @property
    def tools(self) -> ToolRegistry:
        return self._tools

    @property
    def model(self) -> ModelClient:
        return self._host.model

    @property
    def token_info(self) -> TokenUsageInfo | None:
        return self._host.token_info

    def new_id(self) -> str:
        return self._host.new_id()

    async def emit(self, turn_id: str, msg: ev.EventMsg) -> None:
        if isinstance(msg, _DROPPED):
            return
        if isinstance(msg, ev.ItemCompleted) and isinstance(msg.item, AgentMessageThreadItem):
            return  # the reviewer's raw answer: the rendered review replaces it
        await self._host.emit(self._turn.id, msg)

    async def record(self, items: list[ResponseItem]) -> None:
        self._history.extend(items)

    async def turn_started(self, turn: ActiveTurn) -> None:
        return None

    async def record_user_input(
        self, turn: ActiveTurn, items: list[UserInput], client_id: str | None
    ) -> None:
        text = "\n".join(i.text for i in items if isinstance(i, TextUserInput))
        self._history.append(user_text_message(text))
        # The request shows in the thread's turn, but only the reviewer's history keeps it.
        tid = self._turn.id
        started = now_ms()
        item = UserMessageThreadItem(id=new_thread_id(), content=list(items), started_at_ms=started)
        await self._host.emit(tid, ev.ItemStarted(turn_id=tid, item=item, started_at_ms=started))
        done = item.model_copy(update={"completed_at_ms": now_ms()})
        await self._host.emit(
            tid, ev.ItemCompleted(turn_id=tid, item=done, completed_at_ms=now_ms())
        )

    async def complete_item(self, turn: ActiveTurn, item: ThreadItem) -> None:
        turn.items.append(item)
        if not isinstance(item, AgentMessageThreadItem):
            await self._host.complete_item(self._turn, item)

    async def add_usage(self, turn_id: str, usage: TokenUsage) -> None:
        await self._host.add_usage(self._turn.id, usage)

    async def request_approval(
        self,
        request: ev.ExecApprovalRequest,
        started_item: Any | None,
        on_decision: DecisionHook | None,
    ) -> str:
        return await self._host.request_approval(request, started_item, on_decision)

    async def ask(
        self, request: ev.ClientAsk, started_item: Any | None, on_decision: AnswerHook | None
    ) -> Any:
        return await self._host.ask(request, started_item, on_decision)

    async def wait_unpaused(self) -> None:
        await self._host.wait_unpaused()

    async def turn_finished(self, turn: ActiveTurn, snapshot: Turn) -> Turn:
        return snapshot


class ReviewTask:
    """The work of a review turn (``TurnRunner``'s task for ``kind == "review"``): enter
    review mode, run the reviewer, exit with its rendered review."""

    def __init__(self, request: ReviewRequest) -> None:
        self.request = request

    async def __call__(self, host: TurnHost, turn: ActiveTurn) -> None:
        request = self.request
        started = now_ms()
        entered = EnteredReviewModeThreadItem(
            id=host.new_id(), review=request.hint, started_at_ms=started
        )
        await host.emit(
            turn.id, ev.ItemStarted(turn_id=turn.id, item=entered, started_at_ms=started)
        )
        await host.emit(
            turn.id, ev.EnteredReviewMode(target=request.target, user_facing_hint=request.hint)
        )
        await host.complete_item(turn, entered.model_copy(update={"completed_at_ms": now_ms()}))
        settings = replace(
            host.settings,
            model=host.settings.review_model or host.settings.model,
            base_instructions=review_instructions(),
            developer_instructions=None,
            output_schema=None,  # the review's own answer format is in its instructions
        )
        tools = ToolRegistry([t for n in REVIEWER_TOOLS if (t := host.tools.get(n)) is not None])
        reviewer = _ReviewerHost(host, turn, settings, tools)
        reviewer_turn = ActiveTurn(id=turn.id, started_at=turn.started_at, kind="review")
        prompt: list[UserInput] = [TextUserInput(text=request.prompt)]
        try:
            result = await TurnRunner(reviewer, reviewer_turn).run(prompt, None)
        except asyncio.CancelledError:  # the thread's turn was interrupted
            await _exit(host, turn, None)
            raise
        if result.status == "failed":
            raise ModelError(result.error.message if result.error else "the reviewer failed")
        await _exit(host, turn, parse_review_output(reviewer_turn.last_agent_message or ""))


async def _exit(host: TurnHost, turn: ActiveTurn, output: dict[str, Any] | None) -> None:
    """Leave review mode: the ``exitedReviewMode`` item, then (unless interrupted) the
    review in the thread's history and as the turn's agent message."""
    text = render_review(output) if output is not None else INTERRUPTED
    started = now_ms()
    exited = ExitedReviewModeThreadItem(id=host.new_id(), review=text, started_at_ms=started)
    await host.emit(turn.id, ev.ItemStarted(turn_id=turn.id, item=exited, started_at_ms=started))
    await host.emit(turn.id, ev.ExitedReviewMode(review_output=output))
    await host.complete_item(turn, exited.model_copy(update={"completed_at_ms": now_ms()}))
    if output is None:
        return
    message_id = f"msg_{host.new_id()}"
    answer = MessageItem(
        id=message_id, role="assistant", content=[ContentItem(type="output_text", text=text)]
    )
    await host.record([_user_action(text), answer])
    started = now_ms()
    item = AgentMessageThreadItem(id=message_id, text=text, started_at_ms=started)
    await host.emit(turn.id, ev.ItemStarted(turn_id=turn.id, item=item, started_at_ms=started))
    await host.emit(turn.id, ev.AgentMessage(message=text))
    await host.complete_item(turn, item.model_copy(update={"completed_at_ms": now_ms()}))
