"""The byte-level SSE splitter used by the Responses client."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.model.responses import SseDecoder


def _stream(payloads: list[str], newline: bytes = b"\n") -> bytes:
    out = b""
    for p in payloads:
        out += b"event: x" + newline + b"data: " + p.encode() + newline + newline
    return out


def test_whole_events_in_one_block() -> None:
    decoder = SseDecoder()
    body = _stream(['{"a":1}', '{"b":2}'])
    assert decoder.feed(body) == [b'{"a":1}', b'{"b":2}']
    assert decoder.flush() == []


def test_multi_line_data_comments_and_no_space_after_colon() -> None:
    decoder = SseDecoder()
    body = b": keep-alive\nid: 7\ndata:first\ndata: second\nretry: 10\n\n"
    assert decoder.feed(body) == [b"first\nsecond"]


def test_a_line_spread_over_many_blocks_is_joined_once() -> None:
    big = json.dumps({"text": "x" * 100_000})
    body = _stream([big])
    decoder = SseDecoder()
    out: list[bytes] = []
    for i in range(0, len(body), 1000):
        out += decoder.feed(body[i : i + 1000])
    assert out == [big.encode()]


def test_crlf_split_between_blocks() -> None:
    body = _stream(['{"a":1}', '{"b":2}'], newline=b"\r\n")
    cut = body.index(b"\r\n") + 1  # the CR ends one block, the LF starts the next
    decoder = SseDecoder()
    assert decoder.feed(body[:cut]) + decoder.feed(body[cut:]) == [b'{"a":1}', b'{"b":2}']


def test_unterminated_last_event_is_flushed() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: {}\n") == []
    assert decoder.flush() == [b"{}"]
    assert decoder.flush() == []


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.text(alphabet="abc{}\":, 0123", min_size=1, max_size=30), max_size=8),
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_any_block_boundaries_give_the_same_events(
    payloads: list[str], newline: bytes, cuts: list[int]
) -> None:
    body = _stream(payloads, newline)
    bounds = sorted({c for c in cuts if c < len(body)} | {0, len(body)})
    decoder = SseDecoder()
    out: list[bytes] = []
    for a, b in itertools.pairwise(bounds):
        out += decoder.feed(body[a:b])
    out += decoder.flush()
    assert out == [p.encode() for p in payloads]
