"""The ``account`` methods for API-key logins (``core.accounts``): read, login with an API
key, cancel, logout, the provider's rate limits and the recorded token usage.

Like Codex, an account is reported only for a provider that needs OpenAI auth (the built-in
``openai``); for others ``account`` is null and ``requiresOpenaiAuth`` false. ChatGPT and
Bedrock logins are refused (``not supported by threadline``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from threadline.core import accounts
from threadline.core.errors import InvalidRequest
from threadline.core.provider_settings import list_providers
from threadline.protocol import codes
from threadline.protocol.v2.account import (
    AccountLoginCompletedNotification,
    AccountTokenUsageSummary,
    AccountUpdatedNotification,
    CancelLoginAccountParams,
    CancelLoginAccountResponse,
    GatewayOAuthReadParams,
    GatewayOAuthReadResponse,
    GetAccountRateLimitsParams,
    GetAccountRateLimitsResponse,
    GetAccountTokenUsageParams,
    GetAccountTokenUsageResponse,
    LoginAccountParams,
    LoginAccountResponse,
    LogoutAccountParams,
    LogoutAccountResponse,
)
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.misc import (
    ApiKeyAccount,
    GetAccountParams,
    GetAccountResponse,
    RateLimitSnapshot,
    RateLimitWindow,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime

__all__ = ["HANDLERS"]

_OPENAI = "openai"


def _provider_id(rt: Runtime) -> str:
    try:
        return rt.manager.default_provider_id()
    except InvalidRequest:
        return rt.manager.config.model_provider or _OPENAI


async def account_read(rt: Runtime, ctx: RequestContext, p: GetAccountParams) -> GetAccountResponse:
    if _provider_id(rt) != _OPENAI:
        return GetAccountResponse(account=None, user_id=None, requires_openai_auth=False)
    logged_in = accounts.stored_api_key(rt.manager.home) or os.environ.get("OPENAI_API_KEY")
    account = ApiKeyAccount() if logged_in else None
    return GetAccountResponse(account=account, user_id=None, requires_openai_auth=True)


async def account_login_start(
    rt: Runtime, ctx: RequestContext, p: LoginAccountParams
) -> LoginAccountResponse:
    if p.type != "apiKey":
        raise RpcError(
            codes.INVALID_REQUEST,
            f"not supported by threadline: {p.type} login needs OpenAI's or AWS's account "
            "services; log in with an API key (type apiKey)",
            {"unsupported": "account/login/start"},
        )
    if p.api_key is None:
        raise RpcError(codes.INVALID_REQUEST, "Invalid request: missing field `apiKey`")
    accounts.save_api_key(rt.manager.home, p.api_key)
    done = dump_wire(AccountLoginCompletedNotification(login_id=None, success=True))
    updated = dump_wire(AccountUpdatedNotification(auth_mode="apikey"))

    def announce() -> None:
        rt.broadcast("account/login/completed", done)
        rt.broadcast("account/updated", updated)

    ctx.after_response(announce)
    return LoginAccountResponse()


async def account_login_cancel(
    rt: Runtime, ctx: RequestContext, p: CancelLoginAccountParams
) -> CancelLoginAccountResponse:
    # API-key logins complete at once: there is never a login in progress to cancel.
    raise InvalidRequest(f"invalid login id: {p.login_id}")


async def account_logout(
    rt: Runtime, ctx: RequestContext, p: LogoutAccountParams
) -> LogoutAccountResponse:
    accounts.clear_login(rt.manager.home)
    updated = dump_wire(AccountUpdatedNotification(auth_mode=None))
    ctx.after_response(lambda: rt.broadcast("account/updated", updated))
    return LogoutAccountResponse()


def _window(w: accounts.RateLimits | None, which: str) -> RateLimitWindow | None:
    window = getattr(w, which) if w is not None else None
    if window is None:
        return None
    return RateLimitWindow(
        used_percent=window.used_percent,
        resets_at=window.resets_at,
        window_duration_mins=window.window_minutes,
    )


async def account_rate_limits_read(
    rt: Runtime, ctx: RequestContext, p: GetAccountRateLimitsParams
) -> GetAccountRateLimitsResponse:
    provider = _provider_id(rt)
    seen = accounts.latest_rate_limits(provider)
    if seen is None:  # no response with rate-limit headers yet: nothing known
        return GetAccountRateLimitsResponse(rate_limits=RateLimitSnapshot())
    snapshot = RateLimitSnapshot(
        limit_id=provider, primary=_window(seen, "primary"), secondary=_window(seen, "secondary")
    )
    return GetAccountRateLimitsResponse(
        rate_limits=snapshot, rate_limits_by_limit_id={provider: snapshot}
    )


async def account_usage_read(
    rt: Runtime, ctx: RequestContext, p: GetAccountTokenUsageParams
) -> GetAccountTokenUsageResponse:
    tokens = await accounts.recorded_tokens(rt.manager, p.thread_id)
    return GetAccountTokenUsageResponse(summary=AccountTokenUsageSummary(lifetime_tokens=tokens))


async def account_gateway_oauth_read(
    rt: Runtime, ctx: RequestContext, p: GatewayOAuthReadParams
) -> GatewayOAuthReadResponse:
    provider = p.model_provider or _provider_id(rt)
    views = {v.id: v for v in list_providers(rt.manager.config)}
    if provider not in views:
        raise InvalidRequest(f'model_provider "{provider}" is not defined')
    return GatewayOAuthReadResponse(
        provider_id=provider, provider_name=views[provider].name, required=False
    )


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "account/read": account_read,
    "account/login/start": account_login_start,
    "account/login/cancel": account_login_cancel,
    "account/logout": account_logout,
    "account/rateLimits/read": account_rate_limits_read,
    "account/usage/read": account_usage_read,
    "account/gatewayOAuth/read": account_gateway_oauth_read,
}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""
