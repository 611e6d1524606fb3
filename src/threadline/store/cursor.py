"""``thread/list`` keyset cursors.

A cursor names the last row of a page by its sort value and id, written as
``<RFC 3339 UTC time with milliseconds>|<thread id>`` (the shape Codex uses,
so a cursor is readable in logs). The next page is everything strictly after
that key in the requested order, so rows inserted between two calls never
shift or repeat results.

A cursor with no ``|id`` part (what ``backwards_cursor`` holds) is an
*inclusive* bound on the time alone: walking back from a page starts at that
page's first timestamp, so rows sharing it are not skipped.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

from threadline.protocol.records import record
from threadline.store.base import InvalidCursor

__all__ = ["Cursor", "decode_cursor", "encode_backwards_cursor", "encode_cursor", "format_ms"]

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})[:-](\d{2})[:-](\d{2})(?:\.(\d{1,9}))?Z?$"
)
_ID_RE = re.compile(r"^[0-9A-Za-z_-]{1,128}$")


@record
class Cursor:
    value_ms: int
    thread_id: str | None
    """``None``: inclusive bound on ``value_ms`` alone."""


@functools.lru_cache(maxsize=256)  # every page writes two; a client asks for the same pages
def format_ms(value_ms: int) -> str:
    moment = datetime.fromtimestamp(value_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value_ms % 1000:03d}Z"


def encode_cursor(value_ms: int, thread_id: str) -> str:
    return f"{format_ms(value_ms)}|{thread_id}"


def encode_backwards_cursor(value_ms: int) -> str:
    return format_ms(value_ms)


def _parse_time_ms(text: str) -> int | None:
    match = _TIME_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return int(moment.timestamp()) * 1000 + millis


def decode_cursor(cursor: str) -> Cursor:
    """Parse a cursor; anything this module did not produce raises :class:`InvalidCursor`.

    Also accepts Codex's forms (whole seconds, or the ``hh-mm-ss`` file-name stamp).
    """
    if not isinstance(cursor, str) or len(cursor) > 256:
        raise InvalidCursor(str(cursor)[:80])
    time_part, sep, id_part = cursor.partition("|")
    value = _parse_time_ms(time_part.strip())
    if value is None:
        raise InvalidCursor(cursor)
    if not sep:
        return Cursor(value, None)
    id_part = id_part.strip()
    if not _ID_RE.match(id_part):
        raise InvalidCursor(cursor)
    return Cursor(value, id_part.lower())
