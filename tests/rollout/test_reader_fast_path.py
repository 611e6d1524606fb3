"""The fast rollout reader (``pydantic_core.from_json``, lines built without
``model_construct``, one line at a time) gives what the reader before it gave.

The oracle below is that earlier reader: the whole file split on newlines, each record
decoded with ``json.loads`` and built with ``RolloutLine.model_construct``. Both read the
Codex 0.169 reference rollouts, a generated 300-turn rollout and a file of awkward
records (a lone surrogate escape, ``NaN``, integers beyond 64 bits, a byte order mark,
CRLF, duplicate keys, garbage, a torn last line); the lines, the error counts and
everything :func:`reconstruct` rebuilds from them must be equal.
"""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bench.persistence import rollout_text

from threadline.protocol.items import MessageItem, dump_response_item
from threadline.protocol.rollout import RolloutLine
from threadline.protocol.v2.item import AgentMessageThreadItem
from threadline.rollout.gc_pause import pause_gc
from threadline.rollout.history import reconstruct
from threadline.rollout.lines import restamped
from threadline.rollout.reader import (
    RolloutFile,
    decode_json,
    parse_lines,
    parse_records,
    read_rollout,
)

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")

_KEYS = frozenset({"timestamp", "type", "payload", "ordinal", "metadata"})


def _oracle_line(obj: Any) -> RolloutLine | None:
    if not isinstance(obj, dict):
        return None
    kind, stamp = obj.get("type"), obj.get("timestamp")
    if not isinstance(kind, str) or not isinstance(stamp, str) or "payload" not in obj:
        return None
    ordinal, metadata = obj.get("ordinal"), obj.get("metadata")
    extra = {k: v for k, v in obj.items() if k not in _KEYS} if len(obj) > 5 else {}
    return RolloutLine.model_construct(
        timestamp=stamp, type=kind, payload=obj["payload"],
        ordinal=ordinal if isinstance(ordinal, int) else None,
        metadata=metadata if isinstance(metadata, dict) else None, **extra,
    )


def _oracle(path: Path, limit: int | None = None) -> tuple[list[RolloutLine], int]:
    lines: list[RolloutLine] = []
    errors = 0
    data = path.read_bytes()
    for chunk in (data if limit is None else data[:limit]).split(b"\n"):
        if not chunk.strip():
            continue
        try:
            line = _oracle_line(json.loads(chunk))
        except ValueError:
            line = None
        if line is None:
            errors += 1
        else:
            lines.append(line)
    return lines, errors


def _oracle_chain(fast: RolloutFile) -> tuple[list[RolloutLine], int]:
    """The earlier reader's history of ``fast`` (a paginated fork's inherited prefix:
    each ancestor read up to its ``history_base`` byte offset, cut at its ordinal)."""
    lines, errors = _oracle(fast.path)
    meta = fast.meta
    for parent in fast.ancestors:
        assert meta is not None and meta.history_base is not None
        base = meta.history_base
        inherited, more = _oracle(parent, base.end_byte_offset)
        cut = base.end_ordinal_exclusive
        if cut is not None:
            inherited = [ln for ln in inherited if ln.ordinal is None or ln.ordinal < cut]
        lines, errors = inherited + lines, errors + more
        meta = next((ln.as_session_meta() for ln in inherited if ln.type == "session_meta"), None)
    return lines, errors


def _state(line: RolloutLine) -> str:
    """Everything a line holds, as text (``NaN`` is not equal to itself)."""
    fields_set = line.__pydantic_fields_set__
    assert type(fields_set) is set
    return repr((
        line.__dict__, sorted(fields_set), line.__pydantic_extra__,
        line.__pydantic_private__, line.model_dump(), line.to_json_dict(),
    ))


def _rebuilt(rollout: RolloutFile) -> dict[str, Any]:
    recon = reconstruct(rollout)
    return {
        "turns": [t.model_dump(mode="json", by_alias=True) for t in recon.turns],
        "history": [dump_response_item(item) for item in recon.history],
        "token": recon.token_info.model_dump(mode="json") if recon.token_info else None,
        "rest": (recon.preview, recon.name, recon.model, recon.usage_turn_id,
                 recon.open_turn_id, recon.window, recon.cut_off, recon.format),
    }


_AWKWARD = [
    rb'{"timestamp":"2026-01-01T00:00:01.000Z","type":"event_msg","payload":{"type":"agent_message","message":"lone \ud800 surrogate"}}',
    rb'{"timestamp":"2026-01-01T00:00:02.000Z","type":"event_msg","payload":{"type":"agent_message","message":"n","x":NaN,"y":-Infinity,"big":123456789012345678901234567890,"neg":-9223372036854775809,"u":18446744073709551616}}',
    b'\xef\xbb\xbf{"timestamp":"2026-01-01T00:00:03.000Z","type":"event_msg","payload":{"type":"agent_message","message":"bom"}}',
    b"garbage line",
    b"",
    b"   ",
    b'{"timestamp":"2026-01-01T00:00:04.000Z","type":"event_msg","payload":{"type":"agent_message","message":"crlf"},"extra_key":1}\r',
    b'{"timestamp":"2026-01-01T00:00:05.000Z","type":"event_msg","payload":{"type":"agent_message","message":"a"},"payload":{"type":"agent_message","message":"b"},"ordinal":"x","metadata":[1]}',
    b'{"timestamp":"2026-01-01T00:00:06.000Z","type":"event_msg","payload":{"type":"agent_message","message":"f","v":[1.5e-320,0.1,1e308,-0.0,1E400]}}',
    b"[1,2]",
    b'{"timestamp":"2026-01-01T00:00:07.000Z","type":"event_msg","payload":{"type":"agent_mess',
]


def _generated(tmp: Path) -> Path:
    created = datetime(2027, 6, 1, tzinfo=UTC)
    thread_id = "019f0000-0000-7000-8000-000000000001"
    path = tmp / f"rollout-2027-06-01T00-00-00-{thread_id}.jsonl"
    path.write_text(rollout_text(thread_id, created, turns=300, reply_chars=700,
                                 text="Large thread", cwd="/work/project"), encoding="utf-8")
    return path


def _cases(tmp: Path) -> list[Path]:
    found = sorted(p for p in REF_ROLLOUTS.rglob("rollout-*.jsonl")) if REF_ROLLOUTS.is_dir() else []
    generated = _generated(tmp)
    awkward = tmp / "rollout-2026-01-01T00-00-00-019f0000-0000-7000-8000-000000000002.jsonl"
    awkward.write_bytes(generated.read_bytes()[:20000].rsplit(b"\n", 1)[0] + b"\n"
                        + b"\n".join(_AWKWARD))
    return [*found, generated, awkward]


def test_the_reference_corpus_is_read() -> None:
    if not REF_ROLLOUTS.is_dir():
        pytest.skip("reference corpus not available")
    assert len(list(REF_ROLLOUTS.rglob("rollout-*.jsonl"))) >= 10


def test_lines_and_rebuilt_threads_equal_the_earlier_reader(tmp_path: Path) -> None:
    for path in _cases(tmp_path):
        fast = read_rollout(path)
        expected, expected_errors = _oracle_chain(fast)
        assert fast.parse_errors == expected_errors, path
        assert len(fast.lines) == len(expected), path
        for got, want in zip(fast.lines, expected, strict=True):
            assert _state(got) == _state(want), path
        own, own_errors = _oracle(path)
        from_bytes, byte_errors = parse_lines(path.read_bytes())
        assert [_state(line) for line in from_bytes] == [_state(line) for line in own]
        assert byte_errors == own_errors
        if not expected:
            continue
        slow = RolloutFile(path=path, meta=fast.meta, lines=expected,
                           parse_errors=expected_errors, format=fast.format,
                           own_start=fast.own_start)
        assert repr(_rebuilt(fast)) == repr(_rebuilt(slow)), path


def test_the_awkward_records_are_counted_as_before(tmp_path: Path) -> None:
    awkward = _cases(tmp_path)[-1]
    lines = read_rollout(awkward).lines
    messages = [line.payload.get("message") for line in lines if line.type == "event_msg"]
    assert {"lone \ud800 surrogate", "n", "bom", "crlf", "b", "f"} <= set(messages)
    odd = next(line.payload for line in lines if line.payload.get("message") == "n")
    assert odd["big"] == 123456789012345678901234567890 and isinstance(odd["u"], int)
    assert odd["neg"] == -9223372036854775809 and odd["y"] == float("-inf")
    assert read_rollout(awkward).parse_errors == 3  # garbage, a JSON array, the torn tail


@pytest.mark.parametrize("raw", [
    b'{"a":1,"a":2}', b"-0", b"1e400", b'"\\ud800x"', b"NaN", b"[Infinity]",
    b"18446744073709551616", b"-9223372036854775809", b"123.456e-7", b'"\\u00e9\\n"',
    b"\xef\xbb\xbf{}", b' {"k": [true, false, null]} \r\n',
])
def test_decode_json_gives_what_json_loads_gives(raw: bytes) -> None:
    want = json.loads(raw)
    got = decode_json(raw)
    assert repr(got) == repr(want) and type(got) is type(want)


@pytest.mark.parametrize("raw", [b"", b"nope", b"{", b'"\xff"', b"[1,]"])
def test_decode_json_refuses_what_json_loads_refuses(raw: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(raw)
    with pytest.raises(ValueError):
        decode_json(raw)


def test_a_paused_collector_comes_back_once_released_twice() -> None:
    assert gc.isenabled()
    first, second = pause_gc(), pause_gc()
    first()
    first()  # a second call must not end the other pause
    assert not gc.isenabled()
    second()
    assert gc.isenabled()


def test_a_long_reply_is_held_once_by_history_and_turns(tmp_path: Path) -> None:
    rollout = read_rollout(_generated(tmp_path))
    recon = reconstruct(rollout)
    replies = [item.text() for item in recon.history
               if isinstance(item, MessageItem) and item.role == "assistant"]
    shown = [item.text for turn in recon.turns for item in turn.items
             if isinstance(item, AgentMessageThreadItem)]
    assert len(replies) == len(shown) == 300
    for reply, text in zip(replies, shown, strict=True):
        assert len(text) >= 256 and text == reply
    held = [item.content[0] for item in recon.history
            if isinstance(item, MessageItem) and item.role == "assistant"]
    for part, text in zip(held, shown, strict=True):
        assert getattr(part, "text", None) is text  # one string, not two equal ones
    short = reconstruct(read_rollout(_cases(tmp_path)[-1]))  # short texts: left as they are
    assert short.turns



def test_records_decode_as_the_joined_text_does(tmp_path: Path) -> None:
    data = _cases(tmp_path)[-1].read_bytes()
    texts = [chunk.decode("utf-8", "surrogateescape") for chunk in data.split(b"\n")]
    texts = [t for t in texts if "\udcef" not in t]  # a database row is valid text
    joined, joined_errors = parse_lines("\n".join(texts).encode("utf-8"))
    records, record_errors = parse_records(texts)
    assert [_state(line) for line in records] == [_state(line) for line in joined]
    assert record_errors == joined_errors == 3


def test_restamped_lines_equal_model_copies(tmp_path: Path) -> None:
    for path in _cases(tmp_path)[-3:]:
        lines = read_rollout(path).lines
        stamp = "2030-01-01T00:00:00.000Z"
        copies = [line.model_copy(update={"timestamp": stamp, "ordinal": None}) for line in lines]
        fast = restamped(lines, stamp)
        assert [_state(line) for line in fast] == [_state(line) for line in copies]
        assert all(a.payload is b.payload for a, b in zip(fast, lines, strict=True))
