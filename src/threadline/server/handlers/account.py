"""``account/read``: there is no account system (nothing to log in to, no OpenAI auth)."""

from __future__ import annotations

from threadline.protocol.v2.misc import GetAccountParams, GetAccountResponse
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime

__all__ = ["account_read"]


async def account_read(
    rt: Runtime, ctx: RequestContext, p: GetAccountParams
) -> GetAccountResponse:
    return GetAccountResponse(account=None, user_id=None, requires_openai_auth=False)
