"""Hand-made rollout lines for tests that compare two ways of reading the same file.

The resume stream and the turnless seek are each checked against the whole-file read on
files built from these pieces. ``CraftedRollout(compact=True)`` writes lines the way
threadline's writer does (no spaces after separators), ``compact=False`` the way Python's
``json.dumps`` does by default: a reader that looks at a line's head must cope with both.
:func:`resume_facts` is what those tests compare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from threadline.protocol.items import dump_response_item
from threadline.rollout.history import Reconstruction
from threadline.rollout.reader import RolloutFile

__all__ = ["TS", "CraftedRollout", "resume_facts"]

TS = "2026-11-20T10:00:00.000Z"
"""Every crafted line's timestamp."""


class CraftedRollout:
    """Builds the lines of one crafted rollout for thread ``thread``."""

    def __init__(self, thread: str, *, compact: bool) -> None:
        self.thread = thread
        self._separators = (",", ":") if compact else (", ", ": ")

    def rec(self, kind: str, payload: Any, **extra: Any) -> str:
        """One line: ``extra`` keys sit between the timestamp and the type."""
        return json.dumps({"timestamp": TS, **extra, "type": kind, "payload": payload},
                          separators=self._separators)

    def ev(self, kind: str, **fields: Any) -> str:
        return self.rec("event_msg", {"type": kind, **fields})

    def msg(self, role: str, text: str) -> str:
        part = "output_text" if role == "assistant" else "input_text"
        return self.rec("response_item", {"type": "message", "role": role,
                                           "content": [{"type": part, "text": text}]})

    @staticmethod
    def usage_info(total: int) -> dict[str, Any]:
        """A ``token_count`` event's ``info`` whose totals are ``total`` tokens."""
        block = {"input_tokens": total - 3, "cached_input_tokens": 1, "output_tokens": 3,
                 "reasoning_output_tokens": 1, "total_tokens": total}
        return {"total_token_usage": block, "last_token_usage": block, "model_context_window": 1000}

    def usage(self, total: int) -> str:
        return self.ev("token_count", info=self.usage_info(total), rate_limits=None)

    def turn(self, turn_id: str, text: str, *, end: bool = True, tokens: int | None = None) -> list[str]:
        """An explicit turn: its context, the user's message and a reply, optionally a token
        count, and (unless ``end=False``) its completion."""
        body = [
            self.ev("task_started", turn_id=turn_id),
            self.rec("turn_context", {"turn_id": turn_id, "cwd": "/w", "model": f"m-{turn_id}",
                                      "approval_policy": "on-request",
                                      "sandbox_policy": {"type": "read-only"}}),
            self.msg("user", text),
            self.ev("user_message", message=text),
            self.msg("assistant", f"reply to {text} " + "x" * 300),
            self.ev("agent_message", message=f"reply to {text} " + "x" * 300),
        ]
        if tokens is not None:
            body.append(self.usage(tokens))
        if end:
            body.append(self.ev("task_complete", turn_id=turn_id))
        return body

    def cut_off(self, turn_id: str, *, answered: bool) -> list[str]:
        """An open turn that stopped at a tool call waiting for an approval (answered or not)."""
        body = self.turn(turn_id, "run it", end=False)
        body.append(self.rec("response_item", {"type": "function_call", "name": "shell",
                                               "arguments": "{}", "call_id": "call-1"}))
        body.append(self.ev("client_ask_opened", turn_id=turn_id, approval_id="a1",
                            ask={"type": "exec"}))
        if answered:
            body.append(self.ev("client_ask_answered", turn_id=turn_id, approval_id="a1",
                                answer={"decision": "accept"}))
        return body

    def write(self, tmp: Path, name: str, body: list[str], *, meta: dict[str, Any] | None = None,
              tail: str = "\n") -> Path:
        """``body`` after a session_meta line (with ``meta`` merged in), as a rollout file in
        ``tmp``; ``tail`` ends the file (a torn last line, or none)."""
        payload = {"id": self.thread, "timestamp": TS, "cwd": "/", "originator": "tests",
                   "cli_version": "0", "source": "vscode", **(meta or {})}
        path = tmp / f"rollout-2026-11-20T10-00-00-{name}.jsonl"
        path.write_text("\n".join([self.rec("session_meta", payload), *body]) + tail, encoding="utf-8")
        return path


def resume_facts(rollout: RolloutFile, recon: Reconstruction, *, with_lines: bool) -> dict[str, Any]:
    """Everything a resume takes from ``rollout`` and its reconstruction ``recon``, as plain
    data, to compare the resume stream with the whole-file read; ``with_lines`` adds the
    lines the file kept (what the stream must leave as the whole read does)."""
    file: tuple[Any, ...] = (rollout.meta, rollout.format, rollout.parse_errors, rollout.own_start)
    return {
        "turns": [turn.model_dump(mode="json", by_alias=True) for turn in recon.turns],
        "usage": recon.token_info, "usage_turn": recon.usage_turn_id,
        "history": [dump_response_item(item) for item in recon.history],
        "cut_off": recon.cut_off, "window": recon.window, "open": recon.open_turn_id,
        "preview": recon.preview, "name": recon.name, "model": recon.model,
        "format": recon.format, "errors": recon.parse_errors, "meta": recon.meta,
        "file": (*file, rollout.lines) if with_lines else file,
    }
