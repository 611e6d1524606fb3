"""The first-run experience: no config, no API key — the embedded SmolLM2 answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.cli.conftest import Cli

USAGE_RE = re.compile(r"tokens used: (\d+) \(input (\d+), output (\d+)\)")


@pytest.mark.slow
def test_exec_and_resume_on_the_embedded_model(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"  # no config.toml at all
    first = cli("exec", "Name one colour of the sky.", home=home, timeout=120)

    assert first.code == 0, first.stderr
    assert first.stdout.strip(), "the embedded model gave an empty answer"
    assert "embedded offline model smollm2-135m-instruct" in first.stderr
    assert "OPENAI_API_KEY" in first.stderr and str(home / "config.toml") in first.stderr
    used = USAGE_RE.search(first.stderr)
    assert used is not None, first.stderr
    total, inp, out = map(int, used.groups())
    assert inp > 20 and out > 0 and total == inp + out
    assert "context window 8192" in first.stderr

    listing = cli("threads", "list", "--json", home=home).json_lines()[0]["threads"]
    assert len(listing) == 1 and listing[0]["tokens_used"] == total
    assert listing[0]["model_provider"] == "local"

    follow = cli("exec", "resume", "--last", "And of grass?", home=home, timeout=120)
    assert follow.code == 0, follow.stderr
    assert follow.stdout.strip()
    again = USAGE_RE.search(follow.stderr)
    assert again is not None, follow.stderr
    # The second prompt holds the whole first turn (question and answer) plus the follow-up.
    assert int(again.group(2)) > inp + out
    assert f"thread total {total + int(again.group(1))}" in follow.stderr
