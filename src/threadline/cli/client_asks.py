"""How ``threadline exec`` answers the questions of client-side tools.

On a terminal the user answers ``request_user_input`` (pick an option by number or type
an answer) and ``request_permissions`` (y/N). Without one nobody can answer, so the turn
is told so at once instead of waiting forever: no answers, nothing granted. A
client-defined tool cannot exist here (``threadline exec`` defines none); its call fails.
"""

from __future__ import annotations

import sys
from typing import Any

from threadline.cli.common import err_console
from threadline.protocol import events as ev

__all__ = ["CLI_ASKS", "answer_on_terminal", "describe"]

CLI_ASKS = (ev.UserInputRequest, ev.PermissionsRequest, ev.DynamicToolCallRequest)
"""The ask kinds answered here (command approvals have their own prompt)."""


def describe(request: ev.ClientAsk) -> str:
    """One line saying what the agent asked, for the note when nobody can answer."""
    if isinstance(request, ev.UserInputRequest):
        asked = "; ".join(str(q.get("question", "")) for q in request.questions)
        return f"the agent asked: {asked}"
    if isinstance(request, ev.PermissionsRequest):
        return f"the agent asked for more permissions ({request.reason or 'no reason given'})"
    if isinstance(request, ev.DynamicToolCallRequest):
        return f"the agent called the client-side tool `{request.tool}`"
    return "the agent asked a question"


def _read() -> str | None:
    try:
        line = sys.stdin.readline()
    except (OSError, ValueError):
        return None
    return line.strip() if line else None


def answer_on_terminal(request: ev.ClientAsk) -> Any:
    """The user's answer (blocking: run it in a worker thread); ``None`` for none."""
    console = err_console()
    if isinstance(request, ev.UserInputRequest):
        answers: dict[str, list[str]] = {}
        for q in request.questions:
            console.print(f"\n[bold yellow]{q.get('header', '')}[/] {q.get('question', '')}")
            options = [str(o.get("label", "")) for o in q.get("options") or []]
            for n, label in enumerate(options, 1):
                console.print(f"  {n}. {label}")
            console.print("Answer (a number, or your own words): ", end="")
            line = _read()
            if line is None:
                return answers or None
            if line.isdigit() and 1 <= int(line) <= len(options):
                line = options[int(line) - 1]
            if line:
                answers[str(q.get("id", ""))] = [line]
        return answers
    if isinstance(request, ev.PermissionsRequest):
        console.print(f"\n[bold yellow]The agent asks for more access:[/] {request.permissions}")
        if request.reason:
            console.print(f"  because: {request.reason}")
        console.print("Grant it for this turn? [y/N]: ", end="")
        line = (_read() or "").lower()
        if line in ("y", "yes"):
            return {"permissions": request.permissions, "scope": "turn"}
        return None
    return None
