"""A reloaded ``commandExecution`` names a ``read`` action's file by absolute path, as the live
item does (the rollout's ``parsed_cmd`` keeps Codex's relative path)."""

from __future__ import annotations

from threadline.rollout.turn_items import exec_end_to_wire


def _core_item(parsed: list[dict[str, object]]) -> dict[str, object]:
    return {
        "type": "CommandExecution",
        "id": "call_1",
        "command": ["/bin/bash", "-lc", "cat src/a.py && ls docs && rg foo"],
        "cwd": "file:///work/repo",
        "parsed_cmd": parsed,
        "status": "completed",
        "exit_code": 0,
    }


def test_read_paths_are_joined_to_the_cwd_other_actions_are_left_as_written() -> None:
    item = exec_end_to_wire(
        _core_item(
            [
                {"type": "read", "cmd": "cat src/a.py", "name": "a.py", "path": "src/a.py"},
                {"type": "read", "cmd": "cat /etc/hosts", "name": "hosts", "path": "/etc/hosts"},
                {"type": "list_files", "cmd": "ls docs", "path": "docs"},
                {"type": "search", "cmd": "rg foo", "query": "foo", "path": None},
            ]
        )
    )
    assert item["cwd"] == "/work/repo"
    assert item["commandActions"] == [
        {"type": "read", "command": "cat src/a.py", "name": "a.py", "path": "/work/repo/src/a.py"},
        {"type": "read", "command": "cat /etc/hosts", "name": "hosts", "path": "/etc/hosts"},
        {"type": "listFiles", "command": "ls docs", "path": "docs"},
        {"type": "search", "command": "rg foo", "query": "foo", "path": None},
    ]
