"""The provider a new thread uses when it names none (``thread/list`` filters by it too,
so this loads without the thread web ``core.setup`` brings)."""

from __future__ import annotations

from threadline.core.config import Config
from threadline.core.errors import InvalidRequest


def default_provider_id(config: Config) -> str:
    """``model_provider`` from ``config``, else the built-in default; an unusable provider
    (unknown id, missing key) is an :class:`InvalidRequest` naming why."""
    if config.model_provider:
        return config.model_provider
    from threadline.core.providers import resolve_provider
    from threadline.model.base import ModelError

    try:
        return resolve_provider(config).id
    except ModelError as exc:
        raise InvalidRequest(exc.message) from exc
