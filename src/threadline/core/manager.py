"""ThreadManager: owns every loaded thread (start, resume, fork, get, unload)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from threadline import __version__
from threadline.core.config import Config
from threadline.core.errors import InvalidRequest, ThreadNotFound
from threadline.core.recorder import NullSink, RolloutSink
from threadline.core.settings import DEFAULT_BASE_INSTRUCTIONS, ThreadSettings
from threadline.core.thread import Thread
from threadline.model.base import ModelClient, ModelError
from threadline.protocol.rollout import BaseInstructions, SessionMeta, format_rollout_timestamp
from threadline.rollout.paths import new_thread_id, rollout_path_for
from threadline.rollout.policy import PersistencePolicy
from threadline.rollout.writer import RolloutWriter
from threadline.tools.plan import UpdatePlanTool
from threadline.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

ClientFactory = Callable[[Config, str], ModelClient]
"""Builds the model client for ``(config, provider_id)``."""


@dataclass(frozen=True, slots=True)
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


def _default_client_factory(config: Config, provider_id: str) -> ModelClient:
    from threadline.core.providers import build_model_client

    return build_model_client(config.with_overrides(model_provider=provider_id))


class ThreadManager:
    """The live-thread map and the factory for new, resumed and forked threads."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        client_factory: ClientFactory | None = None,
    ) -> None:
        if config is None:
            from threadline.core.config import load_config

            config = load_config()
        self.config = config
        self.home: Path = config.home
        self._client_factory = client_factory or _default_client_factory
        self._clients: dict[str, ModelClient] = {}
        self._threads: dict[str, Thread] = {}
        self._on_loaded: list[Callable[[Thread], None]] = []

    # ---- lookup ---------------------------------------------------------------------

    def list_loaded(self) -> list[str]:
        """Ids of every thread loaded in this process, oldest first."""
        return list(self._threads)

    def get(self, thread_id: str) -> Thread:
        thread = self._threads.get(thread_id)
        if thread is None:
            raise ThreadNotFound(thread_id)
        return thread

    def find(self, thread_id: str) -> Thread | None:
        return self._threads.get(thread_id)

    def on_thread_loaded(self, callback: Callable[[Thread], None]) -> None:
        """Call ``callback(thread)`` whenever a thread becomes loaded (start, resume, fork)."""
        self._on_loaded.append(callback)

    # ---- settings ---------------------------------------------------------------------

    def default_provider_id(self) -> str:
        if self.config.model_provider:
            return self.config.model_provider
        from threadline.core.providers import resolve_provider

        try:
            return resolve_provider(self.config).id
        except ModelError as exc:
            raise InvalidRequest(exc.message) from exc

    def default_model(self, provider_id: str) -> str:
        from threadline.core.providers import effective_model

        try:
            return effective_model(self.config.with_overrides(model_provider=provider_id))
        except ModelError as exc:
            raise InvalidRequest(exc.message) from exc

    def client_for(self, provider_id: str) -> ModelClient:
        client = self._clients.get(provider_id)
        if client is None:
            try:
                client = self._client_factory(self.config, provider_id)
            except ModelError as exc:
                raise InvalidRequest(exc.message) from exc
            self._clients[provider_id] = client
        return client

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
            model_context_window=cfg.model_context_window,
        )

    def tools_for(self, settings: ThreadSettings) -> ToolRegistry:
        return ToolRegistry([UpdatePlanTool()])

    # ---- start ------------------------------------------------------------------------

    def start_thread(self, opts: StartOptions) -> Thread:
        """Create a new thread. Its rollout file appears with the first user message."""
        settings = self.settings_for(opts)
        client = self.client_for(settings.model_provider)
        thread_id = new_thread_id()
        now = datetime.now(UTC)
        sink: RolloutSink
        if settings.ephemeral:
            sink = NullSink()
        else:
            meta = SessionMeta(
                id=thread_id,
                timestamp=format_rollout_timestamp(now),
                cwd=settings.cwd,
                originator=settings.originator,
                cli_version=__version__,
                source=settings.session_source,
                model_provider=settings.model_provider,
                base_instructions=BaseInstructions(text=settings.base_instructions),
            )
            sink = RolloutWriter.create(
                rollout_path_for(self.home, thread_id, now.astimezone()),
                meta,
                policy=PersistencePolicy(extended=settings.persist_extended_history),
                fsync=self.config.rollout_fsync,
            )
        thread = Thread(
            thread_id=thread_id,
            settings=settings,
            client=client,
            sink=sink,
            tools=self.tools_for(settings),
            features=dict(self.config.features),
            created_at=now.timestamp(),
        )
        self._register(thread)
        return thread

    def _register(self, thread: Thread) -> None:
        self._threads[thread.id] = thread
        for cb in list(self._on_loaded):
            try:
                cb(thread)
            except Exception:
                log.exception("on_thread_loaded callback failed")

    # ---- unload / shutdown ------------------------------------------------------------

    async def unload(self, thread_id: str) -> None:
        thread = self._threads.pop(thread_id, None)
        if thread is not None:
            await thread.shutdown_and_wait()

    async def shutdown(self) -> None:
        threads = list(self._threads.values())
        self._threads.clear()
        for thread in threads:
            with contextlib.suppress(Exception):
                await thread.shutdown_and_wait()
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()
        await asyncio.sleep(0)
