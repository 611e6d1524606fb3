"""Which model answers: provider resolution and the model-client factory.

Built-in providers: ``openai`` (Responses API), ``ollama`` (Chat Completions on
localhost) and ``local`` (llama.cpp in-process with the embedded SmolLM2).
A ``[model_providers.<id>]`` table with a built-in id adjusts that built-in
field by field; any other id defines a new provider. With no
``model_provider`` configured, ``openai`` answers when ``OPENAI_API_KEY`` is
set and the embedded ``local`` model otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from threadline.core.config import CONFIG_FILE_NAME, Config
from threadline.core.config_sections import ModelProviderConfig
from threadline.core.warm_up import waiting_for_model_client
from threadline.model.base import (
    ModelClient,
    ModelConfigError,
    ModelError,
    ModelEvent,
    ModelRequest,
)
from threadline.protocol.net import is_loopback_url
from threadline.protocol.records import record

ProviderKind = Literal["responses", "chat", "local"]

OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_REQUEST_MAX_RETRIES = 4
DEFAULT_STREAM_MAX_RETRIES = 5
DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000
MAX_RETRIES_CAP = 100
_OPENAI_DEFAULT_MODEL = "gpt-5.1-codex"


def _no_strings() -> Mapping[str, str]:
    return MappingProxyType({})


@record
class ProviderInfo:
    """A fully resolved provider. Holds no secret: the API key is read from ``env_key`` when used."""

    id: str
    name: str
    wire_api: ProviderKind
    default_model: str
    base_url: str | None = None
    env_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=_no_strings)
    query_params: Mapping[str, str] = field(default_factory=_no_strings)
    request_max_retries: int = DEFAULT_REQUEST_MAX_RETRIES
    stream_max_retries: int = DEFAULT_STREAM_MAX_RETRIES
    stream_idle_timeout_s: float = DEFAULT_STREAM_IDLE_TIMEOUT_MS / 1000
    model_path: Path | None = None

    @property
    def is_loopback(self) -> bool:
        """True when ``base_url`` points at this machine (no credentials needed)."""
        return is_loopback_url(self.base_url)


BUILTIN_PROVIDERS: Mapping[str, ProviderInfo] = MappingProxyType(
    {
        "openai": ProviderInfo(
            id="openai",
            name="OpenAI",
            wire_api="responses",
            default_model=_OPENAI_DEFAULT_MODEL,
            base_url="https://api.openai.com/v1",
            env_key=OPENAI_API_KEY_ENV,
        ),
        "ollama": ProviderInfo(
            id="ollama",
            name="Ollama",
            wire_api="chat",
            default_model="gpt-oss:20b",
            base_url="http://localhost:11434/v1",
        ),
        "local": ProviderInfo(
            id="local",
            name="Embedded llama.cpp",
            wire_api="local",
            default_model="smollm2-135m-instruct",
        ),
    }
)


def default_provider_id(env: Mapping[str, str] | None = None) -> str:
    """``openai`` when ``OPENAI_API_KEY`` is set (non-empty), else ``local``."""
    environ = os.environ if env is None else env
    return "openai" if environ.get(OPENAI_API_KEY_ENV) else "local"


def resolve_provider(config: Config, env: Mapping[str, str] | None = None) -> ProviderInfo:
    """The provider ``config`` selects, with defaults filled in and its credentials checked.

    Raises :class:`ModelConfigError` for an unknown provider id or when the
    provider's ``env_key`` variable is not set in ``env`` (default ``os.environ``).
    """
    environ = _with_login(config) if env is None else env
    provider_id = config.model_provider or default_provider_id(environ)
    configured = config.model_providers.get(provider_id)
    builtin = BUILTIN_PROVIDERS.get(provider_id)
    if configured is None and builtin is None:
        known = sorted({*BUILTIN_PROVIDERS, *config.model_providers})
        raise ModelConfigError(
            f'model_provider "{provider_id}" is not defined; known providers: {", ".join(known)} '
            f"(define others under [model_providers.<id>] in {config.home / CONFIG_FILE_NAME})"
        )
    info = _merge(provider_id, builtin, configured or ModelProviderConfig(), config)
    if provider_id == "openai" and configured is None and environ.get(OPENAI_BASE_URL_ENV):
        info = replace(info, base_url=environ[OPENAI_BASE_URL_ENV])
    needs_key = info.wire_api != "local" and info.env_key and not info.is_loopback
    if needs_key and info.env_key and not environ.get(info.env_key):
        raise ModelConfigError(
            f'model provider "{provider_id}" needs the environment variable {info.env_key}, '
            "which is not set; set it, or choose another provider with model_provider "
            f"(-c model_provider=local runs the embedded offline model)"
        )
    if info.wire_api != "local" and not info.base_url:
        raise ModelConfigError(f'model provider "{provider_id}" has no base_url')
    return info


def effective_model(config: Config, env: Mapping[str, str] | None = None) -> str:
    """The model name requests carry: ``config.model`` or the provider's default."""
    if config.model:
        return config.model
    return resolve_provider(config, env).default_model


def default_provider_notice(config: Config, env: Mapping[str, str] | None = None) -> str | None:
    """One line saying which model answers when no provider is configured; ``None`` otherwise."""
    if config.model_provider:
        return None
    environ = os.environ if env is None else env
    path = config.home / CONFIG_FILE_NAME
    if default_provider_id(environ) == "openai":
        model = config.model or BUILTIN_PROVIDERS["openai"].default_model
        return (
            f"Using OpenAI ({model}) because {OPENAI_API_KEY_ENV} is set; "
            f"set model_provider in {path} to use another provider."
        )
    model = config.model or BUILTIN_PROVIDERS["local"].default_model
    return (
        f"No model provider configured and {OPENAI_API_KEY_ENV} is not set: answering with the "
        f"embedded offline model {model} (llama.cpp). Set {OPENAI_API_KEY_ENV}, or model_provider "
        f"in {path}, to use another model."
    )


def build_model_client(config: Config, env: Mapping[str, str] | None = None) -> ModelClient:
    """Create the client for the configured provider (the model modules are imported lazily)."""
    environ = _with_login(config) if env is None else env
    info = resolve_provider(config, environ)
    if info.wire_api == "local":
        from threadline.model.local import LocalModelClient

        return LocalModelClient(
            model_path=info.model_path,
            n_ctx=config.model_context_window,
            provider_id=info.id,
        )
    kwargs: dict[str, Any] = {
        "provider_id": info.id,
        "base_url": info.base_url,
        "api_key": environ.get(info.env_key) if info.env_key else None,
        "headers": dict(info.headers),
        "query_params": dict(info.query_params),
        "max_retries": info.request_max_retries,
        "stream_idle_timeout_s": info.stream_idle_timeout_s,
        "env_key": info.env_key,
    }
    if info.wire_api == "chat":
        from threadline.model.chat import ChatCompletionsClient

        return ChatCompletionsClient(**kwargs)
    from threadline.model.responses import ResponsesClient

    return ResponsesClient(**kwargs)


# ---- helpers ------------------------------------------------------------------------------


def _with_login(config: Config) -> Mapping[str, str]:
    """The environment, plus the API key of ``account/login/start`` (``auth.json``) as
    ``OPENAI_API_KEY`` when the variable itself is not set."""
    if os.environ.get(OPENAI_API_KEY_ENV):
        return os.environ
    from threadline.core.accounts import stored_api_key

    key = stored_api_key(config.home)
    return {**os.environ, OPENAI_API_KEY_ENV: key} if key else os.environ


def _merge(
    provider_id: str, builtin: ProviderInfo | None, cfg: ModelProviderConfig, config: Config
) -> ProviderInfo:
    base = builtin or ProviderInfo(
        id=provider_id, name=provider_id, wire_api="responses", default_model=""
    )
    if cfg.model_path is not None and cfg.base_url is None:
        kind: ProviderKind = "local"
    elif builtin is not None and builtin.wire_api == "local" and cfg.base_url is None:
        kind = "local"
    else:
        kind = cfg.wire_api or (base.wire_api if base.wire_api != "local" else "chat")
    default_model = base.default_model
    if not default_model:
        default_model = (
            cfg.model_path.stem if kind == "local" and cfg.model_path else _OPENAI_DEFAULT_MODEL
        )
    idle_ms = cfg.stream_idle_timeout_ms
    return ProviderInfo(
        id=provider_id,
        name=cfg.name or base.name,
        wire_api=kind,
        default_model=default_model,
        base_url=cfg.base_url or base.base_url,
        env_key=cfg.env_key if cfg.env_key is not None else base.env_key,
        headers=MappingProxyType({**base.headers, **cfg.http_headers}),
        query_params=MappingProxyType({**base.query_params, **cfg.query_params}),
        request_max_retries=min(
            MAX_RETRIES_CAP,
            cfg.request_max_retries
            if cfg.request_max_retries is not None
            else base.request_max_retries,
        ),
        stream_max_retries=min(
            MAX_RETRIES_CAP,
            cfg.stream_max_retries
            if cfg.stream_max_retries is not None
            else base.stream_max_retries,
        ),
        stream_idle_timeout_s=idle_ms / 1000 if idle_ms is not None else base.stream_idle_timeout_s,
        model_path=cfg.model_path or base.model_path,
    )


_WARM_AFTER_S = 0.5


class LazyModelClient:
    """A :class:`ModelClient` that builds the real client on first use.

    Building a client imports the OpenAI SDK (about a second on a cold process), which
    resume, fork and read never need. The build starts in a worker thread as soon as a
    loop is running, so by the first turn it is usually done; a caller that needs the
    client earlier waits for it.
    """

    def __init__(
        self,
        provider_id: str,
        build: Callable[[], ModelClient],
        *,
        warm_after_s: float = _WARM_AFTER_S,
        window_from_client: bool = True,
    ) -> None:
        """``window_from_client``: the context window is the built client's to say (the
        embedded model's ``n_ctx``), so a turn waits for the build before it starts;
        otherwise it is the catalog's and the turn starts at once."""
        self.window_from_client = window_from_client
        self._provider_id = provider_id
        self._build = build
        self._client: ModelClient | None = None
        self._lock = threading.Lock()
        self._warming: asyncio.Future[ModelClient] | None = None
        self._timer: asyncio.TimerHandle | None = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            # Not at once: the request that created the client (a resume, a fork) answers
            # first, without an SDK import competing with it for the interpreter.
            self._timer = loop.call_later(warm_after_s, self._start_warming)

    def _start_warming(self) -> asyncio.Future[ModelClient]:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._warming is None:
            self._warming = asyncio.get_running_loop().run_in_executor(None, self._get)
            self._warming.add_done_callback(_ignore_result)
        return self._warming

    @property
    def provider_id(self) -> str:
        return self._provider_id

    def _get(self) -> ModelClient:
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    async def _ready(self) -> ModelClient:
        if self._client is not None:
            return self._client
        with waiting_for_model_client():  # the warm-up gives way to this build
            return await asyncio.shield(self._start_warming())

    async def ready(self) -> None:
        """Wait until the real client exists (errors surface later, from :meth:`stream`)."""
        with contextlib.suppress(Exception):
            await self._ready()

    def context_window(self, model: str) -> int | None:
        if self._client is None:
            return None  # never import the SDK on the event loop; see ready()
        try:
            return self._client.context_window(model)
        except ModelError:
            return None

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        client = await self._ready()
        async for event in client.stream(request):
            yield event

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._warming is not None and not self._warming.done():
            with contextlib.suppress(Exception):
                await self._warming
        if self._client is not None:
            await self._client.aclose()


def _ignore_result(future: asyncio.Future[ModelClient]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so a failed warm-up is not logged as unhandled
