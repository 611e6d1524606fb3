"""What a new, resumed or forked thread is built from: settings, model client, tools.

:class:`ThreadSetup` resolves a thread's :class:`ThreadSettings` from the config and
the request's :class:`StartOptions` (and, for a resumed thread, from what its stored
history says), shares one lazily built model client per provider, offers the tools,
and is the one place a :class:`Thread` is constructed. ``ThreadManager`` owns one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.core import tracing
from threadline.core.config import Config
from threadline.core.errors import InvalidRequest
from threadline.core.hooks import TurnExtras, hooks_enabled
from threadline.core.mcp_host import McpHost
from threadline.core.model_catalog import ModelOverrides
from threadline.core.provider_choice import default_provider_id
from threadline.core.settings import DEFAULT_BASE_INSTRUCTIONS, ThreadSettings
from threadline.core.skills import project_root_markers, registry_for, skills_context_item
from threadline.core.skills_watch import watcher_for
from threadline.core.thread import Thread
from threadline.model.base import ModelClient, ModelError
from threadline.protocol.records import record
from threadline.store.base import ForkSource, StoredThread, ThreadRecord, ThreadSink
from threadline.store.gc_pause import gc_paused

if TYPE_CHECKING:  # the tools load with a thread's tools (a resumed thread's: its first turn)
    from threadline.tools.dynamic import DynamicToolSpec
    from threadline.tools.goal_tools import GoalBackend
    from threadline.tools.mcp_elicitation import ElicitationBridge
    from threadline.tools.permissions import PermissionGrants
    from threadline.tools.registry import Tool, ToolRegistry
    from threadline.tools.shell import ExecCommandTool

__all__ = ["ClientFactory", "StartOptions", "ThreadSetup"]

ClientFactory = Callable[[Config, str], ModelClient]
"""Builds the model client for ``(config, provider_id)``."""

TURN_MODULES = (
    "threadline.core.turn", "threadline.core.compaction", "threadline.core.review",
    "threadline.core.user_shell",
)
"""The turn code a session imports on first use: a new thread loads it as it is built (with
its tools), so that its first turn, which usually follows at once, finds it; a resumed one
with its first turn, unless the server was idle before it (:data:`RESUMED_TURN_MODULES`)."""

RESUMED_TURN_MODULES = (
    # turn/start -> turn/started
    "threadline.core.turn_host", "threadline.core.hook_events", "threadline.protocol.call_pairs",
    "threadline.core.compaction", "threadline.core.turn",
    # the tools, built for the turn's first model request
    "threadline.tools.registry", "threadline.tools.mcp_elicitation", "threadline.tools.mcp_tools",
    "threadline.tools.view_image", "threadline.tools.dynamic", "threadline.tools.goal_tools",
    "threadline.sandbox.limits", "threadline.sandbox.safe_commands", "threadline.sandbox.policy",
    "threadline.sandbox.seccomp", "threadline.sandbox.bwrap", "threadline.tools.exec_text",
    "threadline.tools.process", "threadline.tools.exec_sessions", "threadline.tools.shell",
    "threadline.tools.permissions", "threadline.tools.plan", "threadline.tools.user_input",
    "threadline.tools.patch_tool", "threadline.model.retry",
)
"""What the first turn of a resumed or forked thread imports, leaves first (each module
after the ones it imports: the order in which ``python -X importtime`` sees them finish).
After a process's first resume or fork the event loop imports them one a step while it
is idle (``core.warm_up.import_in_idle_steps``), so that a turn sent some time after the
resume finds them; a turn sent at once imports what is still missing itself."""

_turn_code_scheduled = False


def _import_turn_code_when_idle() -> None:
    """Once a process: import :data:`RESUMED_TURN_MODULES` in idle steps, then freeze the
    heap (what they bring lives as long as the process; the start's heap is frozen too),
    so the first turn's collections do not walk it."""
    global _turn_code_scheduled
    if _turn_code_scheduled:
        return
    from threadline.core.warm_up import import_in_idle_steps
    from threadline.store.gc_pause import paused

    _turn_code_scheduled = import_in_idle_steps(RESUMED_TURN_MODULES, hold=paused, done=gc.freeze)


@record
class StartOptions:
    """What ``thread/start`` (or ``threadline exec``) may set for a new thread."""

    cwd: str | None = None
    model: str | None = None
    model_provider: str | None = None
    approval_policy: str | None = None
    approvals_reviewer: str | None = None
    sandbox_mode: str | None = None
    reasoning_effort: str | None = None
    personality: str | None = None
    service_tier: str | None = None
    base_instructions: str | None = None
    developer_instructions: str | None = None
    ephemeral: bool = False
    persist_extended_history: bool = False
    source: str = "vscode"
    originator: str = "threadline"
    dynamic_tools: tuple[Any, ...] | None = None
    """``dynamicTools`` as the client sent them (``None``: none, or on resume the stored
    ones); checked when the settings are made."""


def _dynamic_tools(raw: tuple[Any, ...] | None) -> tuple[DynamicToolSpec, ...]:
    if not raw:  # none: what parse_dynamic_tools gives, without importing the tools
        return ()
    from threadline.tools.dynamic import InvalidDynamicTool, parse_dynamic_tools

    try:
        return parse_dynamic_tools(raw)
    except InvalidDynamicTool as exc:
        raise InvalidRequest(str(exc)) from exc


def _review_model(config: Config) -> str | None:
    """Codex's ``review_model`` key: the model reviews run with (else the thread's)."""
    value = config.extra.get("review_model")
    return value if isinstance(value, str) and value else None


def default_client_factory(config: Config, provider_id: str) -> ModelClient:
    from threadline.core.providers import build_model_client

    return build_model_client(config.with_overrides(model_provider=provider_id))


class ThreadSetup:
    """Settings, clients and tools for the threads of one ``ThreadManager``."""

    def __init__(self, config: Config, client_factory: ClientFactory | None = None) -> None:
        self.config = config
        self._client_factory = client_factory or default_client_factory
        tracing.configure(config.extra.get("otel"))  # imports OpenTelemetry only when asked
        self._clients: dict[str, ModelClient] = {}
        self.goal_backend: GoalBackend | None = None
        """Where the model's goal tools read and write (the manager's thread state)."""

    # ---- model and provider -----------------------------------------------------------

    def default_provider_id(self) -> str:
        return default_provider_id(self.config)

    def default_model(self, provider_id: str) -> str:
        from threadline.core.providers import effective_model

        try:
            return effective_model(self.config.with_overrides(model_provider=provider_id))
        except ModelError as exc:
            raise InvalidRequest(exc.message) from exc

    def is_embedded(self, provider_id: str) -> bool:
        """Whether ``provider_id`` runs the embedded llama.cpp model, to which the model
        table (``core.model_catalog``) does not apply."""
        from threadline.core.providers import BUILTIN_PROVIDERS, resolve_provider

        if provider_id not in self.config.model_providers and provider_id not in BUILTIN_PROVIDERS:
            raise InvalidRequest(f'model_provider "{provider_id}" is not defined')
        try:
            config = self.config.with_overrides(model_provider=provider_id)
            return resolve_provider(config).wire_api == "local"
        except ModelError:  # a missing API key: only remote providers need one
            return False

    def client_for(self, provider_id: str) -> ModelClient:
        """The shared client for ``provider_id``, built lazily (see :class:`LazyModelClient`)."""
        client = self._clients.get(provider_id)
        if client is None:
            from threadline.core.providers import LazyModelClient, resolve_provider

            factory = self._client_factory
            config = self.config
            if factory is default_client_factory:
                try:  # unknown providers and missing keys fail here, not at the first turn
                    info = resolve_provider(config.with_overrides(model_provider=provider_id))
                except ModelError as exc:
                    raise InvalidRequest(exc.message) from exc
                # Only the embedded model knows its window once loaded; a remote one's is
                # the catalog's, so its first turn starts without waiting for the SDK.
                embedded = info.wire_api == "local"
            else:
                embedded = True  # a caller's own client: ask it, as before
            client = LazyModelClient(
                provider_id, lambda: factory(config, provider_id), window_from_client=embedded
            )
            self._clients[provider_id] = client
        return client

    async def close_clients(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()
        await asyncio.to_thread(tracing.flush)

    # ---- settings ---------------------------------------------------------------------

    def settings_for(self, opts: StartOptions) -> ThreadSettings:
        cfg = self.config
        provider = opts.model_provider or self.default_provider_id()
        approval = opts.approval_policy or cfg.approval_policy
        if approval == "on-failure":
            approval = "on-request"
        return ThreadSettings(
            model=opts.model or self.default_model(provider),
            model_provider=provider,
            cwd=str(Path(opts.cwd or os.getcwd()).resolve()),
            approval_policy=approval,
            approvals_reviewer=opts.approvals_reviewer or "user",
            sandbox_mode=opts.sandbox_mode or cfg.sandbox_mode,
            reasoning_effort=opts.reasoning_effort or cfg.model_reasoning_effort,
            reasoning_summary=cfg.model_reasoning_summary,
            personality=opts.personality,
            service_tier=opts.service_tier,
            base_instructions=opts.base_instructions or cfg.instructions or DEFAULT_BASE_INSTRUCTIONS,
            developer_instructions=opts.developer_instructions or cfg.developer_instructions,
            ephemeral=opts.ephemeral,
            persist_extended_history=opts.persist_extended_history or cfg.persist_extended_history,
            session_source=opts.source,
            originator=opts.originator,
            dynamic_tools=_dynamic_tools(opts.dynamic_tools),
            review_model=_review_model(cfg),
            model_overrides=ModelOverrides(
                context_window=cfg.model_context_window,
                max_output_tokens=cfg.model_max_output_tokens,
                supports_reasoning_summaries=cfg.model_supports_reasoning_summaries,
                apply_patch_tool_type=cfg.apply_patch_tool_type,
                auto_compact_token_limit=cfg.model_auto_compact_token_limit,
            ),
            remote_compaction=self._remote_compaction(provider),
        )

    def _remote_compaction(self, provider_id: str) -> bool:
        """Remote compaction for the built-in OpenAI provider (as Codex), for another
        provider when its table sets ``remote_compaction = true``; never off the Responses API."""
        configured = self.config.model_providers.get(provider_id)
        flag = configured.extra.get("remote_compaction") if configured is not None else None
        if provider_id == "openai" and flag is None:
            flag = True
        if flag is not True:
            return False
        from threadline.core.providers import resolve_provider

        try:
            config = self.config.with_overrides(model_provider=provider_id)
            return resolve_provider(config).wire_api == "responses"
        except Exception:
            return False

    def restored_settings(
        self, stored: StoredThread, opts: StartOptions, record: ThreadRecord | None
    ) -> ThreadSettings:
        """A resumed thread's settings: the request's, else what its history recorded
        (cwd, source, and model and effort when the provider is unchanged)."""
        meta = stored.meta
        merged = opts
        if opts.cwd is None and meta.cwd:
            merged = replace(merged, cwd=meta.cwd if Path(meta.cwd).is_dir() else None)
        if opts.source == "vscode" and isinstance(meta.source, str):
            merged = replace(merged, source=meta.source)
        provider = opts.model_provider or self.default_provider_id()
        same_provider = meta.model_provider in (None, provider)
        if opts.model is None and opts.model_provider is None and same_provider:
            persisted = stored.recon.model or (record.model if record else None)
            if persisted:
                merged = replace(merged, model=persisted)
            effort = record.reasoning_effort if record else None
            if opts.reasoning_effort is None and effort:
                merged = replace(merged, reasoning_effort=effort)
        if opts.dynamic_tools is None and meta.dynamic_tools:
            merged = replace(merged, dynamic_tools=tuple(meta.dynamic_tools))
        settings = self.settings_for(merged)
        memory_mode = (record.memory_mode if record else None) or meta.memory_mode
        if memory_mode:
            settings = replace(settings, memory_mode=memory_mode)
        return settings

    def tools_for(self, settings: ThreadSettings, config: Config | None = None) -> ToolRegistry:
        """The tools offered to the model. What the model gets is decided by its metadata,
        ``settings.model_info`` (``apply_patch_tool_type``, ``offers_view_image``, …).
        ``config``: the one the thread was built under (default: the current one)."""
        from threadline.tools.dynamic import DynamicTool
        from threadline.tools.goal_tools import goal_tools
        from threadline.tools.permissions import FEATURE as PERMISSIONS_FEATURE
        from threadline.tools.permissions import GrantingShell, PermissionGrants
        from threadline.tools.plan import UpdatePlanTool
        from threadline.tools.registry import ToolRegistry
        from threadline.tools.shell import ExecCommandTool, WriteStdinTool

        cfg = config or self.config
        swr = cfg.sandbox_workspace_write
        shell = ExecCommandTool(
            writable_roots=tuple(swr.writable_roots),
            network_access=swr.network_access,
            env_policy=cfg.shell_environment_policy,
            secret_env_names=cfg.provider_env_keys(),
            max_processes=cfg.sandbox_limits.max_processes,
            timeout_s=cfg.sandbox_limits.command_timeout_sec,
        )
        grants = PermissionGrants() if cfg.feature_enabled(PERMISSIONS_FEATURE) else None
        first: Tool = shell if grants is None else GrantingShell(shell, grants)
        builtin: list[Tool] = [
            first,
            WriteStdinTool(shell.sessions),
            UpdatePlanTool(),
            *_client_side_tools(cfg, settings, grants),
            *goal_tools(self.goal_backend),
        ]
        builtin.extend(_patch_tools(cfg, settings, shell))
        taken = {t.name for t in builtin}
        dynamic = [DynamicTool(s) for s in settings.dynamic_tools if s.name not in taken]
        return ToolRegistry([*builtin, *dynamic])

    # ---- the one Thread factory -------------------------------------------------------

    def build_thread(
        self,
        thread_id: str,
        settings: ThreadSettings,
        client: ModelClient,
        sink: ThreadSink,
        *,
        created_at: float,
        restored: StoredThread | ForkSource | None = None,
        name: str | None = None,
        forked_from_id: str | None = None,
    ) -> Thread:
        """A thread with ``settings`` writing to ``sink``; its history, turns and usage are
        those rebuilt from the stored history when ``restored`` (resume, fork).

        A restored thread's tools (and the tool, turn and event code under them) are built
        the first time they are used, its first turn as a rule, from the config of now:
        a resume answers without them. A new thread's are built here, so that its first
        turn, which usually follows at once, finds them."""
        recon = restored.recon if restored is not None else None
        mcp = McpHost(self.config.mcp_servers, lambda _msg: None)
        config = self.config
        built = None if restored is not None else self.tools_for(settings, config)

        def tools() -> ToolRegistry:
            registry = self.tools_for(settings, config)
            offer_mcp(registry)
            return registry

        thread = Thread(
            thread_id=thread_id,
            settings=settings,
            client=client,
            sink=sink,
            tools=built if built is not None else tools,
            history=recon.history_items if recon is not None else (),  # unbuilt on a resume
            token_info=recon.token_info if recon is not None else None,
            turns=recon.turns if recon is not None else (),
            features=dict(self.config.features),
            created_at=created_at,
            name=name,
            forked_from_id=forked_from_id,
            preview=recon.preview if recon is not None else "",
            window=recon.window if recon is not None else None,
            mcp=mcp,
        )
        offer_mcp = self._offer_mcp_tools(thread, mcp, settings, lazy=restored is not None)
        if built is not None:
            offer_mcp(built)
            with gc_paused():  # long-lived modules: not walked again and again meanwhile
                for module in TURN_MODULES:
                    importlib.import_module(module)
        else:
            _import_turn_code_when_idle()
        self._offer_skills_and_hooks(thread, settings, restored is not None)
        mcp.launch()
        return thread

    def _offer_skills_and_hooks(
        self, thread: Thread, settings: ThreadSettings, resumed: bool
    ) -> None:
        """The skills message the model gets (``core.skills``) and the thread's hooks
        (``core.hooks_run``), both read from the home and the thread's cwd."""
        cfg = self.config
        cwd = Path(settings.cwd)
        thread.session.skills_context = lambda: skills_context_item(cfg.home, cwd, cfg.extra)
        session = weakref.ref(thread.session)

        def skills_changed() -> None:
            from threadline.protocol.events import Event, SkillsChanged

            live = session()
            if live is not None:
                live.deliver(Event(id="", msg=SkillsChanged()))

        watcher_for(registry_for(cfg.home)).watch(thread.session, cwd, skills_changed)
        hooks = None
        if hooks_enabled(dict(cfg.features)):
            from threadline.core.hooks_run import HookRunner

            hooks = HookRunner(cfg.home, thread.rollout_path, resumed=resumed)
        markers = project_root_markers(cfg.extra)
        thread.session.extras = TurnExtras(
            hooks=hooks, skills=lambda: registry_for(cfg.home).load(cwd, markers).skills
        )

    def _offer_mcp_tools(
        self, thread: Thread, mcp: McpHost, settings: ThreadSettings, *, lazy: bool
    ) -> Callable[[ToolRegistry], None]:
        """The thread's MCP tools, as its servers list them at each request: one
        ``mcp__<server>`` namespace per server on the Responses API, flat
        ``mcp__<server>__<tool>`` names elsewhere (Chat Completions, the embedded model).
        A server's elicitations reach the client through the thread's ``ask`` (``lazy``:
        through a bridge made at the first one or with the tools). Returns what adds
        them to the thread's registry once it is built."""
        session = thread.session
        bridges: list[ElicitationBridge] = []

        def bridge() -> ElicitationBridge:
            if not bridges:
                from threadline.tools.mcp_elicitation import ElicitationBridge

                bridges.append(ElicitationBridge(session.ask, session))
            return bridges[0]

        if lazy:

            async def elicit(server: str, params: Any) -> Any:
                return await bridge()(server, params)

            mcp.set_elicitation_handler(elicit)
        else:
            mcp.set_elicitation_handler(bridge())
        namespaced = self._wire_api(settings.model_provider) == "responses"

        def offer(registry: ToolRegistry) -> None:
            from threadline.tools.mcp_tools import McpTool, mcp_tools, namespace_specs

            reserved = tuple(registry.names())
            elicitations = bridge()

            def listed() -> list[Tool]:
                # The manager at each listing: a thread without servers makes its empty
                # one here, not as it is built.
                return list(mcp_tools(mcp.manager, reserved=reserved, elicitations=elicitations))

            def grouped(tools: Sequence[Tool]) -> list[dict[str, Any]]:
                return namespace_specs([t.info for t in tools if isinstance(t, McpTool)])

            registry.set_source(listed, grouped if namespaced else None)

        return offer

    def _wire_api(self, provider_id: str) -> str | None:
        from threadline.core.providers import resolve_provider

        try:
            config = self.config.with_overrides(model_provider=provider_id)
            return resolve_provider(config).wire_api
        except Exception:  # an unusable provider fails its turn; no tools to group then
            return None


def _patch_tools(config: Config, settings: ThreadSettings, shell: ExecCommandTool) -> list[Tool]:
    """``apply_patch`` in the form the model's metadata says (freeform, function, or
    none); ``exec_command`` hands an ``apply_patch`` invocation to it in every case."""
    from threadline.tools.patch_tool import ApplyPatchTool, PatchApplier  # first thread's

    swr = config.sandbox_workspace_write
    applier = PatchApplier(writable_roots=tuple(swr.writable_roots), network_access=swr.network_access)
    shell.patch_interceptor = applier.intercept
    kind = settings.model_info.apply_patch_tool_type
    return [] if kind is None else [ApplyPatchTool(applier, kind)]


def _client_side_tools(
    config: Config, settings: ThreadSettings, grants: PermissionGrants | None
) -> list[Tool]:
    """request_user_input, request_permissions (with ``features.
    request_permissions_tool``; the shell then honours what it grants) and view_image,
    as the model's metadata offers them."""
    from threadline.tools.permissions import RequestPermissionsTool
    from threadline.tools.user_input import DEFAULT_MODE_FEATURE as USER_INPUT_DEFAULT_MODE
    from threadline.tools.user_input import RequestUserInputTool
    from threadline.tools.view_image import ORIGINAL_DETAIL_MODELS, ViewImageTool

    info = settings.model_info
    tools: list[Tool] = []
    if info.offers_request_user_input:
        allowed = config.feature_enabled(USER_INPUT_DEFAULT_MODE)
        tools.append(RequestUserInputTool(default_mode_allowed=allowed))
    if grants is not None:
        tools.append(RequestPermissionsTool(grants))
    if info.offers("view_image"):
        tools.append(
            ViewImageTool(
                supports_images="image" in info.input_modalities,
                original_detail=settings.model in ORIGINAL_DETAIL_MODELS,
            )
        )
    return tools
