"""Wire types of the ``account`` area (Codex 0.169 schema), and its rows of the method table.

``account/read``'s types stay in ``misc`` (with the ``Account`` union and the rate-limit
snapshot they share with ``account/rateLimits/updated``).
"""

from typing import Literal

from pydantic import BaseModel

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.misc import GetAccountParams, GetAccountResponse, RateLimitSnapshot


class LoginAccountParams(WireModel):
    """The schema's tagged union, flattened: threadline takes the ``apiKey`` variant; the
    ChatGPT, device-code, token and Bedrock variants are refused by the handler."""

    type: str
    api_key: str | None = None


class LoginAccountResponse(WireModel):
    type: Literal["apiKey"] = "apiKey"


class CancelLoginAccountParams(WireModel):
    login_id: str


class CancelLoginAccountResponse(WireModel):
    status: Literal["canceled", "notFound"]


class LogoutAccountParams(WireModel):
    """``account/logout`` takes no params (null)."""


class LogoutAccountResponse(WireModel):
    pass


class GetAccountRateLimitsParams(WireModel):
    pass


class GetAccountRateLimitsResponse(WireModel):
    rate_limits: RateLimitSnapshot
    account_id: str | None = None
    ordinary_usage_allowed: bool | None = None
    rate_limit_reset_credits: None = None
    rate_limits_by_limit_id: dict[str, RateLimitSnapshot] | None = None


class GetAccountTokenUsageParams(WireModel):
    thread_id: str | None = None


class AccountTokenUsageDailyBucket(WireModel):
    start_date: str
    tokens: int


class AccountTokenUsageSummary(WireModel):
    current_streak_days: int | None = None
    lifetime_tokens: int | None = None
    longest_running_turn_sec: int | None = None
    longest_streak_days: int | None = None
    peak_daily_tokens: int | None = None


class GetAccountTokenUsageResponse(WireModel):
    summary: AccountTokenUsageSummary
    daily_usage_buckets: list[AccountTokenUsageDailyBucket] | None = None
    thread_usage: None = None


class GatewayOAuthReadParams(WireModel):
    model_provider: str | None = None


class GatewayOAuthReadResponse(WireModel):
    """No threadline provider signs in through a gateway's OAuth: ``required`` is false
    and ``status`` null for every one."""

    provider_id: str
    provider_name: str
    required: bool
    status: None = None
    error: str | None = None
    supports_device_auth: bool = False


AuthMode = Literal["apikey"]


class AccountLoginCompletedNotification(WireModel):
    login_id: str | None = None
    success: bool
    error: str | None = None
    onboarding_entrypoint: None = None


class AccountUpdatedNotification(WireModel):
    auth_mode: AuthMode | None = None
    plan_type: None = None


REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "account/read": (GetAccountParams, GetAccountResponse),
    "account/login/start": (LoginAccountParams, LoginAccountResponse),
    "account/login/cancel": (CancelLoginAccountParams, CancelLoginAccountResponse),
    "account/logout": (LogoutAccountParams, LogoutAccountResponse),
    "account/rateLimits/read": (GetAccountRateLimitsParams, GetAccountRateLimitsResponse),
    "account/usage/read": (GetAccountTokenUsageParams, GetAccountTokenUsageResponse),
    "account/gatewayOAuth/read": (GatewayOAuthReadParams, GatewayOAuthReadResponse),
}
"""Client requests of this area: method -> (params type, response type)."""

NOTIFICATIONS: dict[str, type[BaseModel]] = {
    "account/login/completed": AccountLoginCompletedNotification,
    "account/updated": AccountUpdatedNotification,
}
"""Server notifications of this area: method -> params type."""

__all__ = [
    "AccountLoginCompletedNotification",
    "AccountTokenUsageDailyBucket",
    "AccountTokenUsageSummary",
    "AccountUpdatedNotification",
    "AuthMode",
    "CancelLoginAccountParams",
    "CancelLoginAccountResponse",
    "GatewayOAuthReadParams",
    "GatewayOAuthReadResponse",
    "GetAccountRateLimitsParams",
    "GetAccountRateLimitsResponse",
    "GetAccountTokenUsageParams",
    "GetAccountTokenUsageResponse",
    "LoginAccountParams",
    "LoginAccountResponse",
    "LogoutAccountParams",
    "LogoutAccountResponse",
    "NOTIFICATIONS",
    "REQUESTS",
]
