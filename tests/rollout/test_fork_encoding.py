"""A fork's copied lines are encoded by ``lines.encode_copies`` (``pydantic_core.to_json``)
and written many lines to a ``write``: the file must be byte for byte what encoding each
line with ``dump_line_json`` and writing it alone gives.

Compared on Codex's own rollouts, a bench rollout, the e2e data files and crafted lines
(floats across their whole range, ``NaN`` and the infinities, lone surrogates in values
and keys, big integers, control and non-ASCII characters, metadata, extra fields, strings
that look like floats); through the writer with a fork's list (the copies, then lines
added after them) and a plain list; and a write cut short by the file size limit (in a
child process), which must leave the bytes a line-at-a-time writer leaves.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import struct
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bench.persistence import rollout_text
from pydantic_core import to_json

from threadline.protocol.rollout import EventMsg, RolloutLine, SessionMeta, dump_line_json
from threadline.rollout.lines import CopiedLines, encode_copies, make_line, restamped
from threadline.rollout.paths import new_thread_id, rollout_path_for
from threadline.rollout.policy import PersistencePolicy
from threadline.rollout.reader import read_rollout
from threadline.rollout.writer import RolloutWriter

REFERENCE = Path("/work/shared/reference/codex-0.169.0/rollouts/sessions")
DATA = Path(__file__).resolve().parents[1] / "e2e" / "data"
STAMP = "2026-12-02T07:00:00.000Z"
THREAD = "019a0000-0000-7000-8000-0000000000cd"


def _old(lines: list[RolloutLine]) -> list[bytes]:
    return [(dump_line_json(line) + "\n").encode("utf-8") for line in lines]


def _rollouts(tmp: Path) -> list[Path]:
    bench = tmp / f"rollout-2027-06-01T00-00-00-{THREAD}.jsonl"
    bench.write_text(rollout_text(THREAD, datetime(2027, 6, 1, tzinfo=UTC), turns=60,
                                  reply_chars=700, text="Fork me \u00e9\U0001f600", cwd="/w"),
                     encoding="utf-8")
    found = sorted(REFERENCE.rglob("rollout-*.jsonl")) if REFERENCE.is_dir() else []
    data = sorted(DATA.rglob("*.jsonl")) if DATA.is_dir() else []
    return [*found, *data, bench]


def test_copies_of_real_rollouts_encode_as_dump_line_json(tmp_path: Path) -> None:
    paths = _rollouts(tmp_path)
    assert len(paths) > 3
    lines_seen = 0
    for path in paths:
        lines = restamped(read_rollout(path).lines, STAMP)
        assert encode_copies(lines) == _old(lines), path
        lines_seen += len(lines)
    assert lines_seen > 500


def _floats() -> list[float]:
    rng = random.Random(15)
    values = [0.0, -0.0, 5e-324, 1.7976931348623157e308, 1e16, 1e15, 1e-4, 1e-5, 1e-7,
              123456789.0, 0.1, 2.5, float("nan"), float("inf"), float("-inf")]
    for exponent in range(-323, 308):
        for mantissa in (1.0, 1.5, 2.5, 7.0, 9.999999999999999, 1.2345678901234567):
            values.append(mantissa * 10.0**exponent)
            values.append(-mantissa * 10.0**exponent)
    for _ in range(20_000):
        values.append(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
        values.append(rng.random() * 10.0 ** rng.randint(-25, 25))
    return values


def _crafted() -> list[RolloutLine]:
    payloads: list[Any] = [{"type": "token_count", "info": {"rate": value, "list": [1, value]}}
                           for value in _floats()]
    payloads += [
        {"type": "agent_message", "message": "lone \ud800 surrogate"},
        {"type": "agent_message", "message": "pair \ud83d\ude00 kept as written"},
        {"\udfff key": 1, "type": "x"},
        {"big": 2**70, "neg": -(2**65), "zero": 0, "bool": [True, False, None]},
        {"text": "".join(chr(c) for c in range(0, 0x250)) + "\u2028\u2029\U0010ffff"},
        {"text": "looks like 1e5 and 0.00001 and 3e-7, in a string"},
        {"nested": {"a": [{"b": [[], {}]}]}, "empty": ""},
        None, [1, 2], "a string payload", 42, 1e-05,
    ]
    lines = [make_line({"timestamp": "2026-01-01T00:00:00.000Z", "type": "event_msg",
                        "payload": payload}) for payload in payloads]
    lines.append(make_line({"timestamp": "t", "type": "response_item", "payload": {"a": 1},
                            "metadata": {"m": 1e-06}, "extra": "\u00e9", "more": [1.5]}))
    lines.append(make_line({"timestamp": "t", "type": "event_msg", "payload": {}, "ordinal": 7}))
    lines.append(make_line({"timestamp": "t\ud800", "type": "odd \"type\"", "payload": {}}))
    assert all(line is not None for line in lines)
    return [line for line in lines if line is not None]


def test_crafted_copies_encode_as_dump_line_json() -> None:
    lines = _crafted()
    copies = restamped(lines, STAMP)
    assert encode_copies(copies) == _old(copies)
    # not restamped too: ordinals, and stamps that are not all alike
    assert encode_copies(lines) == _old(lines)
    # the sweep has floats that to_json writes otherwise (the lines encode_copies must
    # leave to dump_line_json) and many it writes alike
    differ = sum(1 for line in copies if isinstance(line.payload, dict) and "info" in line.payload
                 and to_json(line.payload, inf_nan_mode="constants").decode()
                 != json.dumps(line.payload, ensure_ascii=False, separators=(",", ":")))
    assert 1000 < differ < len(copies) - 1000


def _meta(thread_id: str) -> SessionMeta:
    return SessionMeta(id=thread_id, timestamp="2026-01-01T00:00:00.000Z", cwd="/w",
                       originator="threadline", cli_version="0.1.0", source="cli",
                       model_provider="openai")


async def _write(home: Path, thread_id: str, items: list[RolloutLine], *, extended: bool) -> bytes:
    path = rollout_path_for(home, thread_id)
    writer = RolloutWriter.create(path, _meta(thread_id),
                                  policy=PersistencePolicy(extended=extended))
    await writer.materialize()
    await writer.append(items)
    await writer.append([EventMsg(type="agent_message", message="after")])
    await writer.close()
    return path.read_bytes()


@pytest.mark.parametrize("extended", [False, True])
def test_writer_writes_a_forks_copies_as_it_writes_any_lines(tmp_path: Path, extended: bool) -> None:
    source: list[RolloutLine] = []
    for path in _rollouts(tmp_path):
        source += read_rollout(path).lines
    source += _crafted()
    copies = restamped(source, STAMP)
    assert isinstance(copies, CopiedLines)
    marker = RolloutLine(timestamp=STAMP, type="event_msg",
                         payload={"type": "turn_aborted", "turn_id": "t", "reason": "interrupted"})
    copies.append(marker)  # what a fork of a thread that ends mid-turn adds
    plain = list(copies)
    thread_id = new_thread_id()
    fast = asyncio.run(_write(tmp_path / "a", thread_id, copies, extended=extended))
    slow = asyncio.run(_write(tmp_path / "b", thread_id, plain, extended=extended))
    # the first line (the new session_meta) and the last are stamped when written
    fast_lines, slow_lines = fast.splitlines(keepends=True), slow.splitlines(keepends=True)
    assert len(fast_lines) == len(slow_lines) > 1000
    assert fast_lines[1:-1] == slow_lines[1:-1]
    assert [json.loads(line)["type"] for line in (fast_lines[0], fast_lines[-1])] == [
        "session_meta", "event_msg"]


_CHILD = textwrap.dedent("""
    import asyncio, json, resource, signal, sys
    from pathlib import Path
    from threadline.protocol.rollout import RolloutLine
    from threadline.rollout.writer import RolloutWriter

    path, limit, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    lines = [RolloutLine(timestamp="t", type="event_msg",
                         payload={"type": "agent_message", "message": "m" * (n % 50) + str(n)})
             for n in range(count)]

    async def main() -> None:
        writer = RolloutWriter.resume(path)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        failed = False
        try:
            await writer.append(lines)
        except Exception:
            failed = True
        written, pending = writer.lines_written, writer.pending
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        await writer.flush()
        await writer.close()
        print(json.dumps([failed, written, pending, writer.lines_written]))

    asyncio.run(main())
""")


def _expected(data: list[bytes], start: bytes, limit: int) -> tuple[bytes, int]:
    """What writing ``data`` one line at a time after ``start`` leaves when the file may
    hold only ``limit`` bytes until the limit is lifted, and how many lines went whole."""
    out, whole = start, 0
    for line in data:
        if len(out) + len(line) > limit:
            break
        out += line
        whole += 1
    if len(out) < limit:  # the next line was cut at the limit: torn, then ended
        out = out + data[whole][: limit - len(out)] + b"\n"
    return out + b"".join(data[whole:]), whole


@pytest.mark.parametrize("cut", ["inside a line", "at a line's end"])
def test_a_write_cut_short_leaves_what_one_line_at_a_time_leaves(tmp_path: Path, cut: str) -> None:
    count = 400
    data = [(dump_line_json(RolloutLine(
        timestamp="t", type="event_msg",
        payload={"type": "agent_message", "message": "m" * (n % 50) + str(n)})) + "\n").encode()
        for n in range(count)]
    start = b'{"timestamp":"t","type":"session_meta","payload":{}}\n'
    limit = len(start) + sum(len(line) for line in data[:150])
    if cut == "inside a line":
        limit += 7
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(start)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(limit), str(count)],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    failed, written, pending, total = json.loads(done.stdout.strip().splitlines()[-1])
    expected, whole = _expected(data, start, limit)
    assert path.read_bytes() == expected
    assert failed and written == whole == 150 and pending == count - whole
    assert total == count
