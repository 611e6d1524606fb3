"""``threadline.protocol.text``: what is stored or sent always encodes as UTF-8."""

from __future__ import annotations

import json

from threadline.protocol.rollout import RolloutLine, dump_line_json
from threadline.protocol.text import dumps_compact, scrub_surrogates, without_surrogates


def test_lone_surrogates_become_replacement_characters() -> None:
    assert without_surrogates("dir-\udcff/x\ud800\udfff") == "dir-\ufffd/x\ufffd\ufffd"
    clean = "caf\u00e9 \U0001f600"
    assert without_surrogates(clean) is clean
    assert dumps_compact({"k\ud800": ["\udcff", 1, None, "\u00e9"]}) == (
        '{"k\ufffd":["\ufffd",1,null,"\u00e9"]}'
    )
    assert dumps_compact({"a": "\\ud800 is only text"}) == '{"a":"\\\\ud800 is only text"}'


def test_scrub_copies_only_when_needed() -> None:
    value = {"a": [1, "b", {"c": ("d",)}], "e": None}
    assert scrub_surrogates(value) is value
    assert scrub_surrogates({"a\udc80": [("x\ud800",), 2]}) == {"a\ufffd": [["x\ufffd"], 2]}


def test_a_rollout_line_with_a_lone_surrogate_encodes() -> None:
    line = RolloutLine(
        timestamp="2026-03-01T12:00:00.000Z",
        type="event_msg",
        payload={"type": "user_message", "message": "half \ud800 a pair", "images": []},
    )
    data = (dump_line_json(line) + "\n").encode("utf-8")
    assert json.loads(data)["payload"]["message"] == "half \ufffd a pair"
