"""What ``modelProvider/list`` shows of each provider, and the edits of
``modelProvider/config/write`` and ``modelProvider/default/set`` (as Codex words their
refusals).

Providers are the config's ``[model_providers.<id>]`` tables (editable), sorted by id, then
the built-ins it does not redefine (``openai``, ``ollama``, ``local``; not editable). A
custom provider's auth is its ``env_key`` (an environment variable) or none.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from threadline.core.config import Config
from threadline.core.config_write import ConfigWriteError, Edit, WriteResult, write_edits
from threadline.core.providers import BUILTIN_PROVIDERS, resolve_provider
from threadline.model.base import ModelError

__all__ = [
    "ProviderView",
    "default_provider",
    "list_providers",
    "set_default_provider",
    "write_custom_provider",
]


@dataclass(frozen=True, slots=True)
class ProviderView:
    id: str
    name: str
    can_edit: bool
    base_url: str | None
    builtin_openai: bool
    env_key: str | None


def _shown_url(url: str | None) -> str | None:
    """``url`` unless it carries credentials (then it is not shown)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return None if parts.username or parts.password else url


def list_providers(config: Config) -> list[ProviderView]:
    out = [
        ProviderView(
            id=pid,
            name=cfg.name or pid,
            can_edit=pid not in BUILTIN_PROVIDERS,
            base_url=_shown_url(cfg.base_url),
            builtin_openai=False,
            env_key=cfg.env_key,
        )
        for pid, cfg in sorted(config.model_providers.items())
    ]
    for pid, info in BUILTIN_PROVIDERS.items():
        if pid in config.model_providers:
            continue
        out.append(
            ProviderView(
                id=pid,
                name=info.name,
                can_edit=False,
                base_url=None if pid == "openai" else _shown_url(info.base_url),
                builtin_openai=pid == "openai",
                env_key=info.env_key,
            )
        )
    return out


def default_provider(config: Config) -> str:
    """The provider new threads use: ``model_provider``, else the built-in default."""
    if config.model_provider:
        return config.model_provider
    try:
        return resolve_provider(config).id
    except ModelError:
        return "openai"


def _invalid(message: str) -> ConfigWriteError:
    return ConfigWriteError("configValidationError", message)


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
    ):
        raise _invalid("Enter an HTTP(S) base URL without credentials, a query, or a fragment.")


def _new_id(name: str, taken: Mapping[str, Any]) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "provider"
    candidate, n = base, 2
    while candidate in taken or candidate in BUILTIN_PROVIDERS:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def write_custom_provider(config: Config, patch: Mapping[str, Any]) -> tuple[str, WriteResult]:
    """Create or edit a custom provider from a ``customGateway`` patch (only the members
    present in ``patch`` change; a null clears ``baseUrl`` or ``envKey``)."""
    provider_id = patch.get("providerId")
    name = patch.get("name")
    if provider_id is not None and provider_id in BUILTIN_PROVIDERS:
        raise _invalid("A custom provider or gateway cannot use a built-in provider ID.")
    if provider_id is not None and provider_id not in config.model_providers:
        raise ConfigWriteError("configPathNotFound", "Unknown provider ID.")
    if name is not None and not str(name).strip():
        raise _invalid("Enter a provider name.")
    if "baseUrl" in patch and patch["baseUrl"] is not None:
        _check_url(str(patch["baseUrl"]))
    if "envKey" in patch and patch["envKey"] is not None and not str(patch["envKey"]).strip():
        raise _invalid("Enter an environment variable name, or null for none.")
    edits: list[Edit] = []
    if provider_id is None:
        if name is None:
            raise _invalid("Enter a provider name.")
        if not patch.get("baseUrl"):
            raise _invalid("A base URL is required to create a custom provider.")
        provider_id = _new_id(str(name), config.model_providers)
        edits.append(Edit(f"model_providers.{json.dumps(provider_id)}.wire_api", "responses"))
    prefix = f"model_providers.{json.dumps(provider_id)}"
    if name is not None:
        edits.append(Edit(f"{prefix}.name", name))
    for member, key in (("baseUrl", "base_url"), ("envKey", "env_key")):
        if member in patch:
            edits.append(Edit(f"{prefix}.{key}", patch[member]))
    return provider_id, write_edits(config, edits)


def set_default_provider(config: Config, provider_id: str) -> WriteResult:
    """Make ``provider_id`` (a listed provider) the config's ``model_provider``."""
    known = {p.id for p in list_providers(config)}
    if provider_id not in known:
        raise ConfigWriteError("configPathNotFound", "Unknown provider ID.")
    return write_edits(config, [Edit("model_provider", provider_id)])
