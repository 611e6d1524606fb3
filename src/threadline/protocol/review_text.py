"""A review's text as the ``exitedReviewMode`` item shows it, from Codex's review output
(``overall_explanation`` and ``findings``): shared by the live review (``core.review``)
and the rollout reader, so a reloaded review reads as it did live."""

from __future__ import annotations

from typing import Any

__all__ = ["INTERRUPTED", "NO_OUTPUT", "render_review"]

NO_OUTPUT = "Reviewer failed to output a response."
INTERRUPTED = "Review interrupted."


def _render_finding(finding: dict[str, Any]) -> str:
    where = finding["code_location"]
    span = where["line_range"]
    head = (
        f"- {finding['title']} \u2014 {where['absolute_file_path']}:{span['start']}-{span['end']}"
    )
    body = "\n".join(f"  {line}" if line else "" for line in finding["body"].splitlines())
    return f"{head}\n{body}" if body else head


def render_review(output: dict[str, Any]) -> str:
    """The review as text (Codex's layout): the overall explanation, then the findings
    under ``Review comment:`` (one) or ``Full review comments:`` (more)."""
    parts: list[str] = []
    explanation = str(output.get("overall_explanation") or "").strip()
    if explanation:
        parts.append(explanation)
    findings = output.get("findings") or []
    if findings:
        parts.append("Review comment:" if len(findings) == 1 else "Full review comments:")
        parts.extend(_render_finding(f) for f in findings)
    return "\n\n".join(parts) if parts else NO_OUTPUT
