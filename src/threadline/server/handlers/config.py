"""``config/read``: the effective config with Codex's key names."""

from __future__ import annotations

from threadline.protocol.v2.config import ConfigReadParams, ConfigReadResponse
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime

__all__ = ["config_read"]


async def config_read(
    rt: Runtime, ctx: RequestContext, p: ConfigReadParams
) -> ConfigReadResponse:
    return ConfigReadResponse(config=rt.manager.config.to_json(), origins={}, layers=None)
