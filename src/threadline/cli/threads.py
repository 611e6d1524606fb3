"""``threadline threads list|read|archive|unarchive|reindex|export|import`` and
``threadline store migrate``: the saved threads."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from threadline.cli.common import (
    EXIT_FAILED,
    cli_config,
    err_console,
    fail,
    out_console,
    run_with_manager,
)
from threadline.cli.options import shared_options
from threadline.core.manager import ThreadManager
from threadline.core.storage import MAX_LIST_LIMIT, ListQuery, ThreadRecord
from threadline.core.transfer import ImportReport, export_thread, import_rollouts, migrate_home
from threadline.protocol.v2.item import (
    AgentMessageThreadItem,
    CommandExecutionThreadItem,
    ReasoningThreadItem,
    TextUserInput,
    UserMessageThreadItem,
)
from threadline.protocol.v2.turn import Turn


class SortChoice(StrEnum):
    updated = "updated"
    created = "created"


def record_json(record: ThreadRecord) -> dict[str, Any]:
    """A thread row as JSON (snake_case, paths as strings)."""

    def clean(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    return {k: clean(v) for k, v in dataclasses.asdict(record).items()}


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M")


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def list_threads(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_LIST_LIMIT, help="Rows per page.")
    ] = 25,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue from a previous page's cursor.")
    ] = None,
    archived: Annotated[bool, typer.Option("--archived", help="List archived threads.")] = False,
    search: Annotated[
        str | None, typer.Option("--search", help="Only threads whose name or preview match.")
    ] = None,
    sort: Annotated[SortChoice, typer.Option("--sort", help="Order by this time, newest first.")] = (
        SortChoice.updated
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List saved threads, newest first."""
    config = cli_config(ctx)
    query = ListQuery(
        limit=limit,
        cursor=cursor,
        archived=archived,
        search_term=search,
        sort_key="updated_at" if sort is SortChoice.updated else "created_at",
        sort_direction="desc",
    )

    async def body(manager: ThreadManager) -> None:
        page = await manager.list_threads(query)
        if json_out:
            data = {
                "threads": [record_json(r) for r in page.records],
                "next_cursor": page.next_cursor,
            }
            print(json.dumps(data, ensure_ascii=False))
            return
        console = out_console()
        if not page.records:
            err_console().print("no threads" + (" (archived)" if archived else ""), style="dim")
            return
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("id", no_wrap=True, min_width=36)
        table.add_column("name", max_width=24, overflow="ellipsis", no_wrap=True)
        table.add_column("updated", no_wrap=True)
        table.add_column("cwd", max_width=40, overflow="ellipsis", no_wrap=True)
        table.add_column("preview", max_width=60, overflow="ellipsis", no_wrap=True)
        table.add_column("tokens", justify="right", no_wrap=True)
        for r in page.records:
            table.add_row(
                r.id,
                r.name or "",
                _when(r.updated_at_ms),
                r.cwd,
                _one_line(r.preview, 60),
                str(r.tokens_used),
            )
        console.print(table)
        if page.next_cursor:
            err_console().print(
                f"more: threadline threads list --cursor {page.next_cursor}",
                style="dim",
                markup=False,
            )

    run_with_manager(config, body)


def _render_turn(console: Any, index: int, turn: Turn) -> None:
    took = f" · {turn.duration_ms / 1000:.1f}s" if turn.duration_ms is not None else ""
    console.print(Text(f"── turn {index} · {turn.status}{took}", style="bold"))
    for item in turn.items:
        if isinstance(item, UserMessageThreadItem):
            text = "\n".join(c.text for c in item.content if isinstance(c, TextUserInput))
            console.print(Text("you: ", style="bold cyan") + Text(text))
        elif isinstance(item, AgentMessageThreadItem):
            console.print(Text("agent: ", style="bold green") + Text(item.text))
        elif isinstance(item, ReasoningThreadItem):
            if item.summary:
                console.print(Text("thinking: " + " ".join(item.summary), style="dim italic"))
        elif isinstance(item, CommandExecutionThreadItem):
            console.print(Text(f"$ {item.command}", style="bold"))
            if item.aggregated_output:
                console.print(Text(item.aggregated_output.rstrip("\n"), style="dim"))
            console.print(Text(f"  exit {item.exit_code}", style="dim"))
        else:
            kind = getattr(item, "type", type(item).__name__)
            console.print(Text(f"[{kind}]", style="dim"))
    if turn.error is not None:
        console.print(Text(f"error: {turn.error.message}", style="red"))


def read_thread(
    ctx: typer.Context,
    thread_id: Annotated[str, typer.Argument(help="The thread to show.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a thread's turns."""
    config = cli_config(ctx)

    async def body(manager: ThreadManager) -> None:
        record, turns = await manager.read_thread(thread_id)
        if json_out:
            data = {
                "thread": record_json(record),
                "turns": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in turns],
            }
            print(json.dumps(data, ensure_ascii=False))
            return
        console = out_console()
        header = f"thread {record.id}"
        if record.name:
            header += f" “{record.name}”"
        console.print(Text(header, style="bold"))
        console.print(
            Text(
                f"cwd {record.cwd} · created {_when(record.created_at_ms)} · updated "
                f"{_when(record.updated_at_ms)} · {record.tokens_used} tokens"
                + (" · archived" if record.archived else "")
                + (f" · forked from {record.forked_from_id}" if record.forked_from_id else ""),
                style="dim",
            )
        )
        for i, turn in enumerate(turns, start=1):
            _render_turn(console, i, turn)

    run_with_manager(config, body)


def archive(
    ctx: typer.Context, thread_id: Annotated[str, typer.Argument(help="The thread to archive.")]
) -> None:
    """Move a thread to archived_sessions/ (it leaves the default list)."""
    config = cli_config(ctx)

    async def body(manager: ThreadManager) -> None:
        await manager.archive_thread(thread_id)
        print(f"archived {thread_id}")

    run_with_manager(config, body)


def unarchive(
    ctx: typer.Context, thread_id: Annotated[str, typer.Argument(help="The thread to restore.")]
) -> None:
    """Bring an archived thread back."""
    config = cli_config(ctx)

    async def body(manager: ThreadManager) -> None:
        await manager.unarchive_thread(thread_id)
        print(f"unarchived {thread_id}")

    run_with_manager(config, body)


def reindex(ctx: typer.Context) -> None:
    """Rebuild the thread index (state.sqlite) from the rollout files."""
    config = cli_config(ctx)

    async def body(manager: ThreadManager) -> None:
        report = await manager.reindex()
        print(f"indexed {report.indexed}, skipped {report.skipped}, removed {report.removed}")

    run_with_manager(config, body)


def export(
    ctx: typer.Context,
    thread_id: Annotated[str, typer.Argument(help="The thread to export.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: Codex's name, here).")
    ] = None,
) -> None:
    """Write a thread as a Codex rollout file (Codex can resume it)."""
    config = cli_config(ctx)

    async def body(manager: ThreadManager) -> None:
        exported = await export_thread(manager.store, thread_id)
        target = out if out is not None else Path(exported.file_name)
        if str(target) == "-":
            print(exported.text, end="")
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(exported.text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}", EXIT_FAILED)
        err_console().print(f"exported {exported.thread_id} to {target}")

    run_with_manager(config, body)


def _print_report(report: ImportReport) -> None:
    for thread_id in report.imported:
        print(f"imported {thread_id}")
    for path, why in report.skipped:
        err_console().print(f"skipped {path}: {why}")


def import_threads(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Rollout files (threadline's or Codex's).")],
) -> None:
    """Load rollout files into the PostgreSQL store."""
    config = cli_config(ctx)

    async def body(manager: ThreadManager) -> int:
        report = await import_rollouts(manager.store, paths)
        _print_report(report)
        return 1 if report.skipped and not report.imported else 0

    raise typer.Exit(run_with_manager(config, body))


def migrate(
    ctx: typer.Context,
    from_home: Annotated[
        Path, typer.Option("--from-home", help="A threadline or Codex home to copy every thread of.")
    ],
) -> None:
    """Copy every rollout of a home into the PostgreSQL store (threads already there are skipped)."""
    config = cli_config(ctx)

    async def body(manager: ThreadManager) -> None:
        report = await migrate_home(manager.store, from_home)
        _print_report(report)
        print(f"imported {len(report.imported)}, skipped {len(report.skipped)}")

    run_with_manager(config, body)


def _store_group(ctx: typer.Context) -> None:
    """The thread store: migrate a home into the PostgreSQL store."""


def _threads_group(ctx: typer.Context) -> None:
    """Saved threads: list, read, archive, unarchive, reindex, export, import."""


def register(cli: typer.Typer) -> None:
    group = typer.Typer(
        help="Saved threads: list, read, archive, unarchive, reindex, export, import.",
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    group.command("list")(shared_options(list_threads))
    group.command("read")(shared_options(read_thread))
    group.command("archive")(shared_options(archive))
    group.command("unarchive")(shared_options(unarchive))
    group.command("reindex")(shared_options(reindex))
    group.command("export")(shared_options(export))
    group.command("import")(shared_options(import_threads))
    group.callback()(shared_options(_threads_group))
    cli.add_typer(group, name="threads")
    store = typer.Typer(
        help="The thread store: migrate a home into the PostgreSQL store.",
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    store.command("migrate")(shared_options(migrate))
    store.callback()(shared_options(_store_group))
    cli.add_typer(store, name="store")
