"""The section a thread is filed under, as ``thread/list`` and ``thread/read`` show it.

Apart from the rest of the thread-state area (``handlers/thread_state.py`` and its wire
types) so that a list loads only this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.protocol.v2.thread import Thread as WireThread
from threadline.protocol.v2.thread import ThreadSection, ThreadSectionAppearance
from threadline.server.handlers.common import Runtime

if TYPE_CHECKING:
    from threadline.core.thread_state import Placement, SectionRecord

__all__ = ["wire_section", "with_section", "with_sections"]


def wire_section(section: SectionRecord) -> ThreadSection:
    appearance = (
        ThreadSectionAppearance.model_validate(section.appearance)
        if section.appearance is not None
        else None
    )
    return ThreadSection(id=section.id, name=section.name, appearance=appearance)


def with_section(wire: WireThread, placement: Placement | None) -> WireThread:
    if placement is None:
        return wire
    return wire.model_copy(
        update={
            "section": wire_section(placement.section),
            "section_entered_at": placement.entered_at_ms // 1000,
        }
    )


async def with_sections(rt: Runtime, threads: list[WireThread]) -> list[WireThread]:
    """``threads`` with their ``section`` and ``sectionEnteredAt`` filled in (one query
    for the lot): what ``thread/list`` and ``thread/read`` answer in Codex."""
    if not threads:  # an empty page places nothing (and loads no thread state)
        return threads
    # Straight from the state tables: ThreadStateService.placements is only this, and a list
    # need not build (and import) the thread-state service.
    placements = await rt.manager.store.state.placements([t.id for t in threads])
    return [with_section(t, placements.get(t.id)) for t in threads]
