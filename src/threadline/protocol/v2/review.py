"""Wire types of the ``review`` area (Codex 0.169 schema), and its rows of the method table."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.turn import ThreadSettingsUpdatedNotification, Turn


class UncommittedChangesReviewTarget(WireModel):
    """The working tree: staged, unstaged and untracked files."""

    type: Literal["uncommittedChanges"] = "uncommittedChanges"


class BaseBranchReviewTarget(WireModel):
    """The current branch against ``branch``."""

    branch: str
    type: Literal["baseBranch"] = "baseBranch"


class CommitReviewTarget(WireModel):
    """The changes of one commit; ``title`` is a label for UIs (e.g. its subject)."""

    sha: str
    title: str | None = None
    type: Literal["commit"] = "commit"


class CustomReviewTarget(WireModel):
    """Free-form review instructions."""

    instructions: str
    type: Literal["custom"] = "custom"


ReviewTarget = Annotated[
    UncommittedChangesReviewTarget
    | BaseBranchReviewTarget
    | CommitReviewTarget
    | CustomReviewTarget,
    Field(discriminator="type"),
]

ReviewDelivery = Literal["inline"]
"""Codex 0.169 reviews on the given thread only; for another thread, start it first."""


class ReviewStartParams(WireModel):
    target: ReviewTarget
    thread_id: str
    delivery: ReviewDelivery | None = None


class ReviewStartResponse(WireModel):
    review_thread_id: str
    """The thread the review runs on: the one named in the request."""
    turn: Turn


REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "review/start": (ReviewStartParams, ReviewStartResponse),
}
"""Client requests of this area: method -> (params type, response type)."""

NOTIFICATIONS: dict[str, type[BaseModel]] = {
    # A turn's lifecycle detail, listed here because this area brings it (issue #14).
    "thread/settings/updated": ThreadSettingsUpdatedNotification,
}
"""Server notifications of this area: method -> params type."""

__all__ = [
    "NOTIFICATIONS", "REQUESTS", "BaseBranchReviewTarget", "CommitReviewTarget",
    "CustomReviewTarget", "ReviewDelivery", "ReviewStartParams", "ReviewStartResponse",
    "ReviewTarget", "UncommittedChangesReviewTarget",
]  # fmt: skip
