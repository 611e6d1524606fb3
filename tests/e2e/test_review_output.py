"""How a reviewer's answer becomes the review (``core.review``), case by case as real Codex
0.169 handled the same answers from the mock model: a complete JSON review is parsed (also
inside prose or a Markdown fence), one missing field anywhere makes the whole answer plain
text, and the rendering is Codex's layout."""

from __future__ import annotations

import json
from typing import Any

from threadline.core.review import parse_review_output, render_review


def _finding(title: str, body: str, path: str, start: int, end: int) -> dict[str, Any]:
    return {
        "title": title,
        "body": body,
        "priority": 2,
        "confidence_score": 0.5,
        "code_location": {"absolute_file_path": path, "line_range": {"start": start, "end": end}},
    }


def _review(findings: list[dict[str, Any]], explanation: str) -> dict[str, Any]:
    return {
        "findings": findings,
        "overall_correctness": "patch is correct",
        "overall_explanation": explanation,
        "overall_confidence_score": 0.5,
    }


def test_two_findings_without_an_explanation_render_as_full_review_comments() -> None:
    answer = json.dumps(
        _review([_finding("A", "x\ny", "/p", 1, 1), _finding("B", "z", "/q", 4, 9)], "")
    )
    output = parse_review_output(answer)
    assert [f["title"] for f in output["findings"]] == ["A", "B"]
    assert render_review(output) == (
        "Full review comments:\n\n- A \u2014 /p:1-1\n  x\n  y\n\n- B \u2014 /q:4-9\n  z"
    )


def test_a_review_inside_prose_and_a_fence_is_found() -> None:
    inner = json.dumps(_review([_finding("A", "x", "/p", 1, 1)], "E2"))
    output = parse_review_output(f"Here you go:\n```json\n{inner}\n```")
    assert render_review(output) == "E2\n\nReview comment:\n\n- A \u2014 /p:1-1\n  x"


def test_a_missing_field_makes_the_whole_answer_the_explanation() -> None:
    finding = _finding("A", "x", "/p", 1, 1)
    cases = [
        {"findings": [finding], "overall_explanation": "E"},  # no correctness, no score
        _review([{k: v for k, v in finding.items() if k != "confidence_score"}], "E"),
        _review([{k: v for k, v in finding.items() if k != "code_location"}], "E"),
        _review([{**finding, "priority": "high"}], "E"),
    ]
    for case in cases:
        answer = json.dumps(case)
        output = parse_review_output(answer)
        assert output == {
            "findings": [],
            "overall_correctness": "",
            "overall_explanation": answer,
            "overall_confidence_score": 0.0,
        }
        assert render_review(output) == answer


def test_an_empty_answer_says_the_reviewer_gave_none() -> None:
    assert render_review(parse_review_output("")) == "Reviewer failed to output a response."
