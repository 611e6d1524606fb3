"""The ``[features]`` flags threadline knows, for ``experimentalFeature/list`` and
``experimentalFeature/enablement/set``.

Each entry is a flag a config's ``[features]`` table may set, with Codex's key name. The
stage says how finished it is; only ``beta`` flags carry a display name and description (as
Codex's list does). ``runtime`` flags may be switched for the whole process by
``experimentalFeature/enablement/set``; the others are read when a thread starts, from the
config file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from threadline.core.config import Config

__all__ = ["FEATURES", "Feature", "feature_enabled", "runtime_toggle"]

Stage = Literal["beta", "underDevelopment", "stable", "deprecated", "removed"]


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    stage: Stage
    default: bool
    display_name: str | None = None
    description: str | None = None
    runtime: bool = False


FEATURES: tuple[Feature, ...] = (
    Feature(
        "request_permissions_tool",
        "beta",
        False,
        "Permission requests",
        "Let the model ask for extra sandbox permissions (request_permissions) during a turn.",
        runtime=True,
    ),
    Feature(
        "default_mode_request_user_input",
        "beta",
        False,
        "Questions in default mode",
        "Let the model ask the user questions (request_user_input) outside plan mode.",
        runtime=True,
    ),
)
"""Every flag threadline reads, in the order ``experimentalFeature/list`` reports them
(Codex's other flags have no effect here, so they are not listed)."""

_BY_NAME = {f.name: f for f in FEATURES}


def feature_enabled(config: Config, feature: Feature) -> bool:
    """Whether ``feature`` is on in ``config`` (its ``[features]`` value, else the default)."""
    return config.feature_enabled(feature.name, feature.default)


def runtime_toggle(name: str) -> Feature | None:
    """The feature ``name`` if ``experimentalFeature/enablement/set`` may switch it."""
    feature = _BY_NAME.get(name)
    return feature if feature is not None and feature.runtime else None
