"""Resume, fork and the ``threads`` commands, driven as subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.cli.conftest import Cli, input_texts, make_cli, write_mock_config
from tests.support.mock_model import MockModel, text, usage


def _exec_json(cli: Cli, *args: str) -> str:
    result = cli("exec", "--json", *args)
    assert result.code == 0, result.stderr
    events = result.json_lines()
    assert events[-1]["type"] == "turn.completed"
    thread_id = events[0]["thread_id"]
    assert isinstance(thread_id, str)
    return thread_id


def test_resume_by_id_shows_model_the_earlier_turn(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(
        text("Noted: your cat is Miso.", usage=usage(input=40, output=8)),
        text("Your cat is called Miso.", usage=usage(input=70, output=7)),
    )
    thread_id = _exec_json(cli, "My cat is called Miso.")

    result = cli("exec", "resume", thread_id, "What is my cat called?")
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "Your cat is called Miso."
    second = input_texts(mock_model.requests[1].body)
    assert "My cat is called Miso." in second
    assert "Noted: your cat is Miso." in second
    assert second[-1] == "What is my cat called?"
    # The usage line gives this turn and the thread's running total (restored from the rollout).
    assert "tokens used: 77 (input 70, output 7) · thread total 125" in result.stderr


def test_resume_last_picks_the_newest_thread(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(text("first"), text("second"), text("third"))
    _exec_json(cli, "older thread")
    newest = _exec_json(cli, "newer thread")

    result = cli("exec", "resume", "--last", "--json", "and now?")
    assert result.code == 0, result.stderr
    assert result.json_lines()[0]["thread_id"] == newest
    shown = input_texts(mock_model.requests[2].body)
    assert "newer thread" in shown and "older thread" not in shown


def test_resume_unknown_thread_fails_cleanly(cli: Cli) -> None:
    result = cli("exec", "resume", "01a00000-0000-7000-8000-000000000000", "hello?")
    assert result.code == 2  # a bad argument, like any other usage error
    assert "Traceback" not in result.stderr
    assert "01a00000-0000-7000-8000-000000000000" in result.stderr


def test_fork_copies_history_into_a_new_thread(cli: Cli, mock_model: MockModel) -> None:
    mock_model.enqueue(text("The password is swordfish."))
    source = _exec_json(cli, "Remember the password.")

    forked = cli("fork", source)
    assert forked.code == 0, forked.stderr
    new_id = forked.stdout.strip()
    assert new_id and new_id != source

    read = cli("threads", "read", new_id, "--json").json_lines()[0]
    assert read["thread"]["forked_from_id"] == source
    texts = [
        i.get("text") for t in read["turns"] for i in t["items"] if i["type"] == "agentMessage"
    ]
    assert texts == ["The password is swordfish."]


def test_fork_with_prompt_runs_a_turn_on_the_copied_history(
    cli: Cli, mock_model: MockModel
) -> None:
    mock_model.enqueue(text("The password is swordfish."), text("It was swordfish."))
    source = _exec_json(cli, "Remember the password.")

    result = cli("fork", source, "What was it?")
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "It was swordfish."
    shown = input_texts(mock_model.requests[1].body)
    assert "The password is swordfish." in shown and shown[-1] == "What was it?"
    # The source thread did not get the fork's turn.
    source_turns = cli("threads", "read", source, "--json").json_lines()[0]["turns"]
    assert len(source_turns) == 1


# ---- list / read / reindex on a home with two threads (made once for this module) --------


@dataclass(frozen=True)
class TwoThreads:
    cli: Cli
    home: Path
    first: str
    """"Capital of France?" (older)"""
    second: str
    """"Capital of Italy?" (newer)"""


@pytest.fixture(scope="module")
def two_threads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoThreads]:
    root = tmp_path_factory.mktemp("two-threads")
    work = root / "work"
    work.mkdir()
    with MockModel() as mock:
        home = root / "home"
        write_mock_config(home, mock.base_url)
        run = make_cli(home, work)
        mock.enqueue(text("Paris.", usage=usage(input=30, output=3)), text("Rome."))
        first = _exec_json(run, "Capital of France?")
        second = _exec_json(run, "Capital of Italy?")
        yield TwoThreads(run, home, first, second)


def test_list_table(two_threads: TwoThreads) -> None:
    table = two_threads.cli("threads", "list")
    assert table.code == 0, table.stderr
    header, *rows = table.stdout.strip().splitlines()
    assert header.split() == ["id", "name", "updated", "cwd", "preview", "tokens"]
    assert len(rows) == 2
    assert rows[0].startswith(two_threads.second) and rows[1].startswith(two_threads.first)
    assert "Capital of France?" in rows[1] and rows[1].rstrip().endswith("33")


def test_list_json_pages(two_threads: TwoThreads) -> None:
    page = two_threads.cli("threads", "list", "--json", "--limit", "1").json_lines()[0]
    assert [r["id"] for r in page["threads"]] == [two_threads.second]
    assert page["threads"][0]["preview"] == "Capital of Italy?"
    assert page["next_cursor"]
    rest = two_threads.cli("threads", "list", "--json", "--limit", "1", "--cursor", page["next_cursor"])
    last = rest.json_lines()[0]
    assert [r["id"] for r in last["threads"]] == [two_threads.first]
    assert last["next_cursor"] is None


def test_read_shows_the_turns(two_threads: TwoThreads) -> None:
    read = two_threads.cli("threads", "read", two_threads.first)
    assert read.code == 0, read.stderr
    assert f"thread {two_threads.first}" in read.stdout
    assert "turn 1 · completed" in read.stdout
    assert "you: Capital of France?" in read.stdout
    assert "agent: Paris." in read.stdout


def test_reindex_rebuilds_from_rollouts(two_threads: TwoThreads) -> None:
    (two_threads.home / "state.sqlite").unlink()
    reindex = two_threads.cli("threads", "reindex")
    assert reindex.code == 0, reindex.stderr
    assert reindex.stdout.startswith("indexed 2,")
    ids = [r["id"] for r in two_threads.cli("threads", "list", "--json").json_lines()[0]["threads"]]
    assert ids == [two_threads.second, two_threads.first]


def test_archive_and_unarchive(cli: Cli, mock_model: MockModel, cli_home: Path) -> None:
    mock_model.enqueue(text("kept for later"))
    thread_id = _exec_json(cli, "something to archive")

    archived = cli("threads", "archive", thread_id)
    assert archived.code == 0, archived.stderr
    assert not list((cli_home / "sessions").rglob(f"*{thread_id}.jsonl"))
    assert list((cli_home / "archived_sessions").rglob(f"*{thread_id}.jsonl"))
    assert cli("threads", "list", "--json").json_lines()[0]["threads"] == []
    hidden = cli("threads", "list", "--archived", "--json").json_lines()[0]["threads"]
    assert [r["id"] for r in hidden] == [thread_id] and hidden[0]["archived"] is True

    restored = cli("threads", "unarchive", thread_id)
    assert restored.code == 0, restored.stderr
    assert list((cli_home / "sessions").rglob(f"*{thread_id}.jsonl"))


def test_read_unknown_thread_fails_cleanly(cli: Cli) -> None:
    result = cli("threads", "read", "01a00000-0000-7000-8000-000000000001")
    assert result.code == 2
    assert "01a00000-0000-7000-8000-000000000001" in result.stderr
    assert "Traceback" not in result.stderr
