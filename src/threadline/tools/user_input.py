"""``request_user_input``: the model asks the user one to three short questions (Plan mode).

The call becomes an ``item/tool/requestUserInput`` server request (the thread shows
``waitingOnUserInput`` meanwhile) and the answers go back to the model as Codex formats
them, compact JSON ``{"answers":{"<question id>":{"answers":["..."]}}}``. A client that
answers ``{}`` (the openai-codex SDK's reply to requests it does not know) or with an
error gives ``{"answers":{}}``: the model learns that nobody answered and the turn goes on.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from threadline.protocol import events as ev
from threadline.tools.registry import ToolContext, ToolOutput

__all__ = ["DEFAULT_MODE_FEATURE", "MAX_QUESTIONS", "RequestUserInputTool", "format_answers"]

DEFAULT_MODE_FEATURE = "default_mode_request_user_input"
"""The ``[features]`` key that allows the tool outside Plan mode (Codex's name)."""

MAX_QUESTIONS = 3


def format_answers(answers: dict[str, list[str]] | None) -> str:
    """What the model reads: Codex's compact ``{"answers": {...}}`` JSON."""
    body = {qid: {"answers": list(values)} for qid, values in (answers or {}).items()}
    return json.dumps({"answers": body}, separators=(",", ":"), ensure_ascii=False)


class _BadQuestions(ValueError):
    pass


def _questions(arguments: str) -> list[dict[str, Any]]:
    """The questions as the client gets them (Codex adds ``isOther`` and ``isSecret``)."""
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        raise _BadQuestions(f"failed to parse function arguments: {exc}") from exc
    raw = args.get("questions") if isinstance(args, dict) else None
    if not isinstance(raw, list) or not raw:
        raise _BadQuestions("request_user_input needs a non-empty `questions` list")
    if len(raw) > MAX_QUESTIONS:
        raise _BadQuestions(f"request_user_input takes at most {MAX_QUESTIONS} questions")
    out: list[dict[str, Any]] = []
    for q in raw:
        if not isinstance(q, dict) or not all(
            isinstance(q.get(k), str) for k in ("id", "header", "question")
        ):
            raise _BadQuestions("each question needs string `id`, `header` and `question`")
        options = q.get("options")
        if not isinstance(options, list) or not all(
            isinstance(o, dict) and isinstance(o.get("label"), str) for o in options
        ):
            raise _BadQuestions(f"question {q['id']!r} needs an `options` list of labels")
        out.append(
            {
                "id": q["id"],
                "header": q["header"],
                "question": q["question"],
                "isOther": True,
                "isSecret": False,
                "options": [
                    {"label": o["label"], "description": str(o.get("description") or "")}
                    for o in options
                ],
            }
        )
    return out


class RequestUserInputTool:
    """Asks the client's user and hands the answers to the model.

    Only in Plan mode (the turn's ``collaborationMode``), as in Codex 0.169, which offers
    the tool in every mode and refuses the call outside Plan mode; with
    ``features.default_mode_request_user_input`` (Codex's flag) also in Default mode.
    """

    name = "request_user_input"

    def __init__(self, *, default_mode_allowed: bool = False) -> None:
        self.default_mode_allowed = default_mode_allowed

    def spec(self) -> dict[str, Any]:
        option = {
            "type": "object",
            "properties": {
                "description": {
                    "type": "string",
                    "description": "One short sentence on what choosing this option means.",
                },
                "label": {"type": "string", "description": "The option as shown (1-5 words)."},
            },
            "required": ["label", "description"],
            "additionalProperties": False,
        }
        question = {
            "type": "object",
            "properties": {
                "header": {"type": "string", "description": "A short label (12 chars or fewer)."},
                "id": {"type": "string", "description": "A stable snake_case id for the answer."},
                "options": {
                    "type": "array",
                    "description": (
                        "Two or three mutually exclusive choices, the recommended one first "
                        'with "(Recommended)" after its label. The client adds a free-form '
                        '"Other" choice itself.'
                    ),
                    "items": option,
                },
                "question": {"type": "string", "description": "The question, one sentence."},
            },
            "required": ["id", "header", "question", "options"],
            "additionalProperties": False,
        }
        return {
            "type": "function",
            "name": self.name,
            "description": (
                "Ask the user one to three short questions and wait for the answers. "
                "This tool is only available in Plan mode."
            ),
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {
                    "questions": {
                        "type": "array",
                        "description": "The questions to ask; prefer one, never more than three.",
                        "items": question,
                    }
                },
                "required": ["questions"],
                "additionalProperties": False,
            },
        }

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        mode = str(ctx.extras.get("collaboration_mode") or "default")
        if mode != "plan" and not (mode == "default" and self.default_mode_allowed):
            return ToolOutput(
                f"request_user_input is unavailable in {mode.capitalize()} mode", success=False
            )
        try:
            questions = _questions(arguments)
        except _BadQuestions as exc:
            return ToolOutput(str(exc), success=False)
        if ctx.ask_client is None:
            return ToolOutput(format_answers(None))
        request = ev.UserInputRequest(
            approval_id=uuid.uuid4().hex,
            turn_id=ctx.turn_id,
            item_id=ctx.call_id,
            questions=questions,
        )
        answer = await ctx.ask_client(request, None, None)
        return ToolOutput(format_answers(answer if isinstance(answer, dict) else None))
