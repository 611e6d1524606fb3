"""What threadline knows about each model: the table Codex 0.169 ships, and its fallback.

The table (``model_catalog.json`` next to this module) is Codex 0.169.0's bundled model
catalog joined with what Codex actually sent each model in its first request; both were
recorded by ``tools/probe_codex_models.py`` against the mock model, which can regenerate
the file. :func:`model_info` looks a slug up the way Codex does:

1. the catalog entry whose slug is the **longest prefix** of the requested slug
   (``gpt-5.5-2026-01-01`` and ``gpt-5.5-codex`` get ``gpt-5.5``'s metadata; the match is
   case-sensitive, so ``GPT-5.5`` does not match);
2. failing that, the same match on the part after one ``namespace/`` segment made of
   ASCII letters, digits, ``-`` and ``_`` (``openai/gpt-5.5``);
3. failing that, Codex's fallback metadata (``mock-model``, ``gpt-5.1-codex``,
   ``gpt-oss-120b``: none of them is in 0.169's catalog), except that ``gpt-oss*`` slugs
   get the JSON-function ``apply_patch`` (see :func:`_fallback`).

The returned :class:`ModelInfo` keeps the requested slug. User config then adjusts it as
Codex's ``with_config_overrides`` does (:class:`ModelOverrides`).

The context window a thread reports (``modelContextWindow``) is
:attr:`ModelInfo.effective_context_window`: the window times the model's usable
percentage (95 for every 0.169 model), so 272 000 becomes 258 400, as Codex reports.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, cast

from threadline.core.config_sections import APPLY_PATCH_TOOL_TYPES, ApplyPatchConfig
from threadline.protocol.records import record

__all__ = [
    "APPLY_PATCH_TOOL_TYPES",
    "FALLBACK_CONTEXT_WINDOW",
    "ApplyPatchConfig",
    "ApplyPatchToolType",
    "ModelInfo",
    "ModelOverrides",
    "ModelUpgrade",
    "ReasoningEffortPreset",
    "ServiceTier",
    "catalog",
    "default_model_slug",
    "model_info",
]

ApplyPatchToolType = Literal["freeform", "function"]
"""How ``apply_patch`` is offered: a custom tool with a Lark grammar, or a JSON function ``{input}``."""

Visibility = Literal["list", "hide", "none"]

FALLBACK_CONTEXT_WINDOW = 272_000
"""The raw context window of Codex's fallback metadata (258 400 after the 95 %)."""

_CATALOG_FILE = "model_catalog.json"


@record
class ReasoningEffortPreset:
    effort: str
    description: str


@record
class ServiceTier:
    id: str
    name: str
    description: str


@record
class ModelUpgrade:
    """The model ``model/list`` suggests moving to, and the note shown with it."""

    model: str
    migration_markdown: str | None = None
    model_link: str | None = None
    retirement_at: int | None = None
    upgrade_copy: str | None = None


@record
class ModelOverrides:
    """The top-level config keys that adjust a model's metadata (``None``: not set).

    As in Codex: ``context_window`` is capped at the model's ``max_context_window``;
    ``supports_reasoning_summaries = true`` turns summaries on, ``false`` changes nothing.
    ``apply_patch_tool_type`` is threadline's own key (Codex 0.169 ignores it): ``none``
    removes the tool, ``freeform`` / ``function`` choose its form.
    ``max_output_tokens`` is kept for callers; Codex 0.169 never sends it to the model.
    """

    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_reasoning_summaries: bool | None = None
    apply_patch_tool_type: ApplyPatchConfig | None = None
    auto_compact_token_limit: int | None = None


@record
class ModelInfo:
    """One model's metadata, after the lookup and the config overrides.

    The first group of fields is Codex's catalog (``ModelInfo`` in codex-rs); the last
    ones record what Codex 0.169 did with it: ``parallel_tool_calls`` is the value its
    request carried (``false`` for the code-mode models, whose tools are not in
    ``tools``; ``true`` for the fallback, although the fallback's
    ``supports_parallel_tool_calls`` is ``false``), and ``codex_tools`` the names of the
    tools it offered (``ns.name`` inside a namespace, ``exec.name`` for the tools nested
    in a code-mode ``exec``).
    """

    slug: str
    display_name: str
    description: str | None = None
    priority: int = 99
    visibility: Visibility = "none"
    context_window: int | None = FALLBACK_CONTEXT_WINDOW
    max_context_window: int | None = FALLBACK_CONTEXT_WINDOW
    effective_context_window_percent: int = 95
    auto_compact_token_limit: int | None = None
    max_output_tokens: int | None = None
    default_reasoning_effort: str | None = None
    supported_reasoning_efforts: tuple[ReasoningEffortPreset, ...] = ()
    supports_reasoning_summaries: bool = False
    default_reasoning_summary: str = "auto"
    support_verbosity: bool = False
    default_verbosity: str | None = None
    input_modalities: tuple[str, ...] = ("text", "image")
    apply_patch_tool_type: ApplyPatchToolType | None = None
    shell_type: str = "default"
    supports_parallel_tool_calls: bool = False
    tool_mode: str | None = None
    use_responses_lite: bool = False
    web_search_tool_type: str = "text"
    supports_search_tool: bool = False
    multi_agent_version: str | None = None
    experimental_supported_tools: tuple[str, ...] = ()
    truncation_mode: str = "bytes"
    truncation_limit: int = 10_000
    upgrade: ModelUpgrade | None = None
    availability_nux: str | None = None
    additional_speed_tiers: tuple[str, ...] = ()
    service_tiers: tuple[ServiceTier, ...] = ()
    default_service_tier: str | None = None
    model_specialty: str | None = None
    used_fallback: bool = True
    parallel_tool_calls: bool = True
    codex_tools: tuple[str, ...] = ()

    @property
    def hidden(self) -> bool:
        """Left out of ``model/list`` unless ``includeHidden``."""
        return self.visibility != "list"

    @property
    def effective_context_window(self) -> int | None:
        """The window threadline reports and budgets with (Codex's usable share)."""
        if self.context_window is None:
            return None
        return self.context_window * self.effective_context_window_percent // 100

    @property
    def code_mode_only(self) -> bool:
        """Codex 0.169 offers this model its tools only through a JavaScript ``exec``
        tool (V8); threadline has no such runtime and offers the same tools directly."""
        return self.tool_mode == "code_mode_only"

    def offers(self, tool: str) -> bool:
        """Whether Codex 0.169 offered ``tool`` to this model, directly, in a namespace or
        nested in ``exec`` (``offers("spawn_agent")`` matches ``multi_agent_v1.spawn_agent``)."""
        return any(name == tool or name.rpartition(".")[2] == tool for name in self.codex_tools)

    @property
    def offers_apply_patch(self) -> bool:
        return self.apply_patch_tool_type is not None

    @property
    def offers_view_image(self) -> bool:
        return self.offers("view_image") and "image" in self.input_modalities

    @property
    def offers_request_user_input(self) -> bool:
        return self.offers("request_user_input")

    @property
    def offers_web_search(self) -> bool:
        return self.offers("web_search")

    @property
    def offers_goal_tools(self) -> bool:
        return self.offers("create_goal")

    @property
    def offers_multi_agent(self) -> bool:
        return self.offers("spawn_agent")

    @property
    def offers_tool_search(self) -> bool:
        return self.offers("tool_search")

    def reasoning_effort(self, configured: str | None) -> str | None:
        """The ``reasoning.effort`` a request carries: the configured one, else the
        model's default (the fallback has none, so none is sent)."""
        return configured or self.default_reasoning_effort

    def reasoning_summary(self, configured: str | None) -> str | None:
        """The ``reasoning.summary`` a request carries: the configured one, else the
        model's default; ``None`` (left out) when that is ``none``."""
        value = configured or self.default_reasoning_summary
        return None if value == "none" else value

    def with_overrides(self, o: ModelOverrides) -> ModelInfo:
        info = self
        if o.supports_reasoning_summaries:
            info = replace(info, supports_reasoning_summaries=True)
        if o.context_window is not None:
            cap = info.max_context_window
            window = o.context_window if cap is None else min(o.context_window, cap)
            info = replace(info, context_window=window)
        if o.auto_compact_token_limit is not None:
            info = replace(info, auto_compact_token_limit=o.auto_compact_token_limit)
        if o.max_output_tokens is not None:
            info = replace(info, max_output_tokens=o.max_output_tokens)
        if o.apply_patch_tool_type is not None:
            kind = None if o.apply_patch_tool_type == "none" else o.apply_patch_tool_type
            info = replace(info, apply_patch_tool_type=kind)
        return info


# ---- the table ----------------------------------------------------------------------------


def _tools(request: Any) -> tuple[str, ...]:
    return tuple(request.get("tools") or ()) if isinstance(request, dict) else ()


def _entry(raw: dict[str, Any]) -> ModelInfo:
    request = raw.get("codex_request")
    truncation = raw.get("truncation_policy") or {}
    upgrade = raw.get("upgrade")
    nux = raw.get("availability_nux")
    parallel = request.get("parallel_tool_calls") if isinstance(request, dict) else None
    return ModelInfo(
        slug=raw["slug"],
        display_name=raw.get("display_name") or raw["slug"],
        description=raw.get("description"),
        priority=raw.get("priority", 99),
        visibility=cast(Visibility, raw.get("visibility") or "none"),
        context_window=raw.get("context_window"),
        max_context_window=raw.get("max_context_window"),
        effective_context_window_percent=raw.get("effective_context_window_percent") or 95,
        auto_compact_token_limit=raw.get("auto_compact_token_limit"),
        default_reasoning_effort=raw.get("default_reasoning_level"),
        supported_reasoning_efforts=tuple(
            ReasoningEffortPreset(e["effort"], e.get("description") or "")
            for e in raw.get("supported_reasoning_levels") or ()
        ),
        supports_reasoning_summaries=bool(raw.get("supports_reasoning_summaries")),
        default_reasoning_summary=raw.get("default_reasoning_summary") or "auto",
        support_verbosity=bool(raw.get("support_verbosity")),
        default_verbosity=raw.get("default_verbosity"),
        input_modalities=tuple(raw.get("input_modalities") or ("text", "image")),
        apply_patch_tool_type=raw.get("apply_patch_tool_type"),
        shell_type=raw.get("shell_type") or "default",
        supports_parallel_tool_calls=bool(raw.get("supports_parallel_tool_calls")),
        tool_mode=raw.get("tool_mode"),
        use_responses_lite=bool(raw.get("use_responses_lite")),
        web_search_tool_type=raw.get("web_search_tool_type") or "text",
        supports_search_tool=bool(raw.get("supports_search_tool")),
        multi_agent_version=raw.get("multi_agent_version"),
        experimental_supported_tools=tuple(raw.get("experimental_supported_tools") or ()),
        truncation_mode=truncation.get("mode", "bytes"),
        truncation_limit=truncation.get("limit", 10_000),
        upgrade=ModelUpgrade(**upgrade) if isinstance(upgrade, dict) else None,
        availability_nux=nux.get("message") if isinstance(nux, dict) else None,
        additional_speed_tiers=tuple(raw.get("additional_speed_tiers") or ()),
        service_tiers=tuple(
            ServiceTier(t["id"], t.get("name") or t["id"], t.get("description") or "")
            for t in raw.get("service_tiers") or ()
        ),
        default_service_tier=raw.get("default_service_tier"),
        model_specialty=raw.get("model_specialty"),
        used_fallback=False,
        parallel_tool_calls=(
            bool(parallel)
            if parallel is not None
            else bool(raw.get("supports_parallel_tool_calls"))
        ),
        codex_tools=_tools(request),
    )


@functools.cache
def _table() -> tuple[tuple[ModelInfo, ...], tuple[str, ...]]:
    # Read next to this module, not through importlib.resources: that import costs ~7 ms,
    # which a resumed thread's first turn (the first to look a model up) would wait for.
    text = Path(__file__).with_name(_CATALOG_FILE).read_text("utf-8")
    doc = json.loads(text)
    models = tuple(sorted((_entry(m) for m in doc["models"]), key=lambda m: m.priority))
    return models, _tools(doc.get("fallback_request"))


def catalog() -> tuple[ModelInfo, ...]:
    """Every model of the table, hidden ones included, in Codex's order (by priority)."""
    return _table()[0]


def default_model_slug() -> str:
    """The model Codex's picker flags as default: the first listed (not hidden) one."""
    models = catalog()
    return next((m.slug for m in models if not m.hidden), models[0].slug)


def _fallback(slug: str) -> ModelInfo:
    """Codex's ``model_info_from_slug``: what an unknown slug gets.

    One deliberate difference (issue #11): the open-weight ``gpt-oss`` family, which Codex
    0.169 leaves without ``apply_patch``, gets the JSON-function form, as earlier Codex
    releases gave it; those models were trained on the tool."""
    base = slug.rpartition("/")[2]
    patch_type: ApplyPatchToolType | None = "function" if base.startswith("gpt-oss") else None
    return ModelInfo(
        slug=slug,
        display_name=slug,
        codex_tools=_table()[1],
        apply_patch_tool_type=patch_type,
    )


def _longest_prefix(slug: str) -> ModelInfo | None:
    best: ModelInfo | None = None
    for candidate in catalog():
        if slug.startswith(candidate.slug) and (
            best is None or len(candidate.slug) > len(best.slug)
        ):
            best = candidate
    return best


def _namespaced(slug: str) -> ModelInfo | None:
    namespace, sep, rest = slug.partition("/")
    if not sep or not namespace or "/" in rest:
        return None
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in namespace):
        return None
    return _longest_prefix(rest)


@functools.lru_cache(maxsize=256)
def model_info(slug: str, overrides: ModelOverrides | None = None) -> ModelInfo:
    """The metadata for ``slug``: the catalog match (see the module docstring) or the
    fallback, with ``overrides`` applied."""
    found = _longest_prefix(slug) or _namespaced(slug)
    info = _fallback(slug) if found is None else replace(found, slug=slug)
    return info if overrides is None else info.with_overrides(overrides)
