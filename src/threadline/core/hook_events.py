"""Where a turn meets its hooks (``core.hooks_run``) and skills (``core.skills``): the
turn loop calls these at the user's prompt, around each tool call and before it ends,
and applies what they decide.

- skills the user names (a ``skill`` input item, or ``$name`` in the text) reach the
  model after the user's message as Codex sends them: a user message
  ``<skill>\n<name>…</name>\n<path>…</path>\n<the SKILL.md>\n</skill>`` each;

- ``SessionStart`` (once per loaded thread, at its first turn; ``source`` is
  ``startup`` or ``resume``) and ``UserPromptSubmit``: their context reaches the model
  as developer messages after the user's message; a ``UserPromptSubmit`` block ends the
  turn before the prompt is recorded or sent;
- ``PreToolUse``: a block replaces the call's output (the tool does not run) with
  ``Command blocked by PreToolUse hook: <reason>. Command: <cmd>``, as Codex words it;
- ``PostToolUse``: its context goes before the call's output; a block replaces the
  output with the hook's reason;
- ``Stop``: a block sends the reason to the model as the next prompt and the turn goes
  on (once: the next ``Stop`` has ``stop_hook_active = true`` and cannot block again).
  As in Codex, the prompt is a ``hookPrompt`` item for the client and a user message
  ``<hook_prompt hook_run_id="<run id>">reason</hook_prompt>`` for the model.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from threadline.core.hooks import TurnExtras
from threadline.core.hooks_run import HookOutcome, HookRunner, tool_hook_input, tool_hook_name
from threadline.core.skills import skill_injections
from threadline.core.turn_host import ActiveTurn, TurnHost
from threadline.protocol import events as ev
from threadline.protocol.clock import now_ms
from threadline.protocol.items import ContentItem, MessageItem, ResponseItem, user_text_message
from threadline.protocol.v2.item import HookPromptThreadItem, TextUserInput, UserInput
from threadline.protocol.v2.item_parts import HookPromptFragment

if TYPE_CHECKING:  # the tools load with a thread's tools, after its turn has started
    from threadline.tools.registry import ToolOutput


async def inject_skills(extras: TurnExtras | None, th: TurnHost, items: list[UserInput]) -> None:
    """Record the ``SKILL.md`` of every skill the user's input names (see the module)."""
    if extras is None or extras.skills is None:
        return
    lookup = extras.skills
    texts = await asyncio.to_thread(lambda: skill_injections(lookup(), items))
    if texts:
        await th.record([user_text_message(t) for t in texts])


def context_message(texts: list[str]) -> list[ResponseItem]:
    """One developer message per hook context (none when there is none)."""
    return [
        MessageItem(role="developer", content=[ContentItem(type="input_text", text=t)])
        for t in texts
        if t
    ]


async def _run(
    runner: HookRunner,
    th: TurnHost,
    turn: ActiveTurn,
    event: str,
    fields: dict[str, Any],
    *,
    target: str | None = None,
    call_id: str | None = None,
) -> HookOutcome:
    s = th.settings

    async def emit(msg: Any) -> None:
        await th.emit(turn.id, msg)

    return await runner.run(
        event,
        emit=emit,
        thread_id=th.thread_id,
        turn_id=turn.id,
        cwd=s.cwd,
        model=s.model,
        approval_policy=s.approval_policy,
        fields=fields,
        target=target,
        call_id=call_id,
        interrupt=turn.interrupt,
    )


async def record_contexts(th: TurnHost, texts: list[str]) -> None:
    """Record hook contexts for the model: one developer message each."""
    if texts:
        await th.record(context_message(texts))


async def before_prompt(
    extras: TurnExtras | None, th: TurnHost, turn: ActiveTurn, items: list[UserInput]
) -> list[str] | None:
    """Run ``SessionStart`` (first turn of this load) and ``UserPromptSubmit``; the
    contexts they give, in order, or None when a ``UserPromptSubmit`` hook blocked the
    prompt (as in Codex the turn then ends at once: no user message, no request)."""
    runner = extras.hooks if extras is not None else None
    if runner is None:
        return []
    contexts: list[str] = []
    if not runner.session_started:
        runner.session_started = True
        source = runner.session_source
        started = await _run(runner, th, turn, "sessionStart", {"source": source}, target=source)
        contexts += started.contexts
    prompt = "\n".join(i.text for i in items if isinstance(i, TextUserInput))
    submitted = await _run(runner, th, turn, "userPromptSubmit", {"prompt": prompt})
    if submitted.blocked or submitted.stopped:
        return None
    return contexts + submitted.contexts


async def before_tool(
    extras: TurnExtras | None,
    th: TurnHost,
    turn: ActiveTurn,
    name: str,
    arguments: Any,
    call_id: str,
) -> str | None:
    """Run ``PreToolUse``; the output the model gets instead of the call when a hook
    blocks it (None: the call runs)."""
    runner = extras.hooks if extras is not None else None
    if runner is None:
        return None
    tool = tool_hook_name(name)
    tool_input = tool_hook_input(name, arguments)
    fields = {"tool_name": tool, "tool_input": tool_input, "tool_use_id": call_id}
    outcome = await _run(runner, th, turn, "preToolUse", fields, target=tool, call_id=call_id)
    if not (outcome.blocked or outcome.stopped):
        return None
    if tool == "Bash" and isinstance(tool_input, dict):
        return f"Command blocked by PreToolUse hook: {outcome.reason}. Command: {tool_input.get('command')}"
    return f"Tool call blocked by PreToolUse hook: {outcome.reason}. Tool: {tool}"


async def after_tool(
    extras: TurnExtras | None,
    th: TurnHost,
    turn: ActiveTurn,
    name: str,
    arguments: Any,
    call_id: str,
    output: ToolOutput,
) -> ToolOutput:
    """Run ``PostToolUse``: its contexts are recorded for the model (before the call's
    output, where Codex puts them); the output comes back, replaced by the hook's reason
    when a hook blocks it, as in Codex."""
    runner = extras.hooks if extras is not None else None
    if runner is None:
        return output
    tool = tool_hook_name(name)
    fields = {
        "tool_name": tool,
        "tool_input": tool_hook_input(name, arguments),
        "tool_use_id": call_id,
        "tool_response": output.text,
    }
    outcome = await _run(runner, th, turn, "postToolUse", fields, target=tool, call_id=call_id)
    await record_contexts(th, outcome.contexts)
    if outcome.blocked:
        return replace(output, text=outcome.reason, content=None)
    return output


async def stop_goes_on(extras: TurnExtras | None, th: TurnHost, turn: ActiveTurn) -> bool:
    """Run ``Stop`` as a regular turn ends; True when a hook blocked the ending: its
    ``hookPrompt`` item is sent and the prompt recorded, and the turn samples again."""
    runner = extras.hooks if extras is not None else None
    if runner is None or turn.kind != "regular":
        return False
    active = runner.stop_blocked_turn == turn.id
    fields = {"stop_hook_active": active, "last_assistant_message": turn.last_agent_message}
    outcome = await _run(runner, th, turn, "stop", fields)
    if not outcome.blocked or active:
        return False
    runner.stop_blocked_turn = turn.id
    fragments = outcome.fragments or [("", outcome.reason)]
    item = HookPromptThreadItem(
        id=th.new_id(),
        fragments=[HookPromptFragment(hook_run_id=rid, text=text) for rid, text in fragments],
    )
    await th.emit(turn.id, ev.ItemStarted(turn_id=turn.id, item=item, started_at_ms=now_ms()))
    await th.complete_item(turn, item)
    text = "".join(f'<hook_prompt hook_run_id="{rid}">{t}</hook_prompt>' for rid, t in fragments)
    await th.record([user_text_message(text)])
    return True


__all__ = [
    "TurnExtras",
    "after_tool",
    "before_prompt",
    "before_tool",
    "context_message",
    "inject_skills",
    "record_contexts",
    "stop_goes_on",
]
