"""The ``session_meta`` line a new thread's history starts with (start and fork)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from threadline import __version__
from threadline.core.gitinfo import git_info
from threadline.protocol.lazy_module import lazy_module
from threadline.store.gc_pause import gc_paused

if TYPE_CHECKING:
    from threadline.core.settings import ThreadSettings
    from threadline.protocol import rollout
    from threadline.protocol.rollout import SessionMeta
else:  # the rollout models load with the first thread, not at start
    rollout = lazy_module("threadline.protocol.rollout", around=gc_paused)


def new_session_meta(
    thread_id: str,
    settings: ThreadSettings,
    now: datetime,
    *,
    forked_from_id: str | None = None,
) -> SessionMeta:
    """The first line of the history of the thread ``thread_id``, created ``now``."""
    return rollout.SessionMeta(
        id=thread_id,
        timestamp=rollout.format_rollout_timestamp(now),
        cwd=settings.cwd,
        originator=settings.originator,
        cli_version=__version__,
        source=settings.session_source,
        model_provider=settings.model_provider,
        base_instructions=rollout.BaseInstructions(text=settings.base_instructions),
        forked_from_id=forked_from_id,
        git=git_info(settings.cwd),
        dynamic_tools=[spec.wire() for spec in settings.dynamic_tools] or None,
    )
