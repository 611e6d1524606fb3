"""Handlers of the ``skills`` area: ``skills/list``, ``skills/extraRoots/set``,
``skills/config/write`` and ``hooks/list``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel

from threadline.core import hooks as core_hooks
from threadline.core.ids import check_thread_id
from threadline.core.skills import Skill, project_root_markers, registry_for, write_rule
from threadline.core.skills_watch import watcher_for
from threadline.protocol import codes
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.skills import (
    HookErrorInfo,
    HookMetadata,
    HooksListEntry,
    HooksListParams,
    HooksListResponse,
    SkillDependencies,
    SkillErrorInfo,
    SkillInterface,
    SkillMetadata,
    SkillsChangedNotification,
    SkillsConfigWriteParams,
    SkillsConfigWriteResponse,
    SkillsExtraRootsSetParams,
    SkillsExtraRootsSetResponse,
    SkillsListEntry,
    SkillsListParams,
    SkillsListResponse,
)
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime


def _absolute(raw: str, field: str) -> Path:
    """An ``AbsolutePathBuf`` member: a relative path is refused as Codex refuses it
    (``-32600``), naming the member."""
    if not raw or not os.path.isabs(raw):
        raise RpcError(
            codes.INVALID_REQUEST,
            f"Invalid request: {field}: must be an absolute path, got {raw!r}"
            " (AbsolutePathBuf deserialized without a base path)",
        )
    return Path(os.path.normpath(raw))


def _cwds(raw: list[str]) -> list[tuple[str, Path]]:
    """``(as given, resolved)`` for each cwd: Codex takes relative cwds against its own
    working directory and answers with the cwd as the client wrote it."""
    if not raw:
        return [(str(Path.cwd()), Path.cwd())]
    return [(c, Path(os.path.abspath(c))) for c in raw]


def _wire_skill(s: Skill) -> SkillMetadata:
    return SkillMetadata(
        name=s.name,
        description=s.description,
        short_description=s.short_description,
        interface=SkillInterface.model_validate(dict(s.interface)) if s.interface else None,
        dependencies=(
            SkillDependencies.model_validate(dict(s.dependencies)) if s.dependencies else None
        ),
        path=str(s.path),
        scope=s.scope,  # type: ignore[arg-type]
        enabled=s.enabled,
    )


async def skills_list(rt: Runtime, ctx: RequestContext, p: SkillsListParams) -> SkillsListResponse:
    config = rt.manager.config
    reg = registry_for(config.home)
    markers = project_root_markers(config.extra)
    entries: list[SkillsListEntry] = []
    for given, cwd in _cwds(p.cwds):
        outcome = await asyncio.to_thread(reg.load, cwd, markers)
        entries.append(
            SkillsListEntry(
                cwd=given,
                skills=[_wire_skill(s) for s in outcome.skills],
                errors=[
                    SkillErrorInfo(path=str(e.path), message=e.message) for e in outcome.errors
                ],
            )
        )
    return SkillsListResponse(data=entries)


def _changed(rt: Runtime, ctx: RequestContext) -> None:
    ctx.after_response(
        lambda: rt.broadcast("skills/changed", dump_wire(SkillsChangedNotification()))
    )


async def skills_extra_roots_set(
    rt: Runtime, ctx: RequestContext, p: SkillsExtraRootsSetParams
) -> SkillsExtraRootsSetResponse:
    roots = [_absolute(r, f"extraRoots[{i}]") for i, r in enumerate(p.extra_roots)]
    reg = registry_for(rt.manager.config.home)
    reg.set_extra_roots(roots)
    watcher_for(reg).rebaseline()  # signalled here; the disk watch need not again
    _changed(rt, ctx)  # Codex signals after every set, changed or not
    return SkillsExtraRootsSetResponse()


async def skills_config_write(
    rt: Runtime, ctx: RequestContext, p: SkillsConfigWriteParams
) -> SkillsConfigWriteResponse:
    if (p.name is None) == (p.path is None):
        raise RpcError(
            codes.INVALID_PARAMS, "skills/config/write requires exactly one of path or name"
        )
    name: str | None = None
    path: Path | None = None
    if p.name is not None:
        name = p.name.strip()
        if not name:
            raise RpcError(codes.INVALID_PARAMS, "name: must not be empty")
    else:
        path = _absolute(p.path or "", "path").resolve()
    reg = registry_for(rt.manager.config.home)
    try:
        await asyncio.to_thread(
            write_rule, reg.config_file, name=name, path=path, enabled=p.enabled
        )
    except Exception as exc:  # an unreadable or unparsable config.toml is left as it was
        raise RpcError(codes.INVALID_REQUEST, f"cannot write {reg.config_file}: {exc}") from exc
    return SkillsConfigWriteResponse(effective_enabled=p.enabled)


async def hooks_list(rt: Runtime, ctx: RequestContext, p: HooksListParams) -> HooksListResponse:
    config = rt.manager.config
    if p.thread_id is not None:
        thread = rt.manager.get(check_thread_id(p.thread_id))
        cwds = [(thread.settings.cwd, Path(thread.settings.cwd))]
    else:
        cwds = _cwds(p.cwds)
    entries: list[HooksListEntry] = []
    for given, _cwd in cwds:
        found = await asyncio.to_thread(core_hooks.discover, config.home)
        entries.append(
            HooksListEntry(
                cwd=given,
                hooks=[HookMetadata.model_validate(h.listing()) for h in found.hooks],
                warnings=list(found.warnings),
                errors=[HookErrorInfo(path=str(path), message=m) for path, m in found.errors],
            )
        )
    return HooksListResponse(data=entries)


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "skills/list": skills_list,
    "skills/extraRoots/set": skills_extra_roots_set,
    "skills/config/write": skills_config_write,
    "hooks/list": hooks_list,
}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""

__all__ = ["HANDLERS"]
