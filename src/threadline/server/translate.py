"""Core events → v2 notifications: the router's and the handlers' entry to the event
table in :mod:`threadline.server.events` (the one place core events meet the wire).
"""

from __future__ import annotations

from typing import Any

from threadline.protocol.usage import TokenUsageInfo
from threadline.protocol.v2.common import dump_wire
from threadline.server.events import Notification, Scope, token_usage_notification, translate


def token_usage_params(thread_id: str, turn_id: str, info: TokenUsageInfo) -> dict[str, Any]:
    """``thread/tokenUsage/updated`` params (the replay to the requester after resume/fork)."""
    return dump_wire(token_usage_notification(thread_id, turn_id, info))


__all__ = ["Notification", "Scope", "token_usage_params", "translate"]
