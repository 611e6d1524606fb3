"""An MCP server whose tools carry each combination of annotations that decides approval
(for the MCP approval tests and probes). Every tool answers ``ran <name>`` and appends its
name to the file named by ``--log`` (so a test sees whether the call reached the server).

Tools: ``look`` (readOnlyHint), ``tweak`` (not read-only, destructiveHint false),
``wipe`` (destructiveHint true), ``web`` (not read-only, not destructive, openWorldHint),
``calm`` (not read-only, not destructive, openWorldHint left out), ``soft`` (only
destructiveHint false), ``plain`` (no annotations); and ``later`` (read-only), which answers at
once and asks the user a question a moment AFTER its call has ended (an elicitation outside any
tool call), logging ``answered <json result>`` when the answer comes.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

_TOOLS: dict[str, ToolAnnotations | None] = {
    "look": ToolAnnotations(readOnlyHint=True),
    "tweak": ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False),
    "wipe": ToolAnnotations(readOnlyHint=False, destructiveHint=True),
    "web": ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True),
    "calm": ToolAnnotations(readOnlyHint=False, destructiveHint=False),
    "soft": ToolAnnotations(destructiveHint=False),
    "plain": None,
}


def build(log: str | None) -> MCPServer:
    server = MCPServer(name="annotated")

    def make(name: str):  # type: ignore[no-untyped-def]
        def run(note: str = "") -> str:
            if log:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(name + "\n")
            return f"ran {name}"

        return run

    for name, notes in _TOOLS.items():
        server.add_tool(make(name), name=name, description=f"The {name} tool.", annotations=notes)

    background: set[asyncio.Task[None]] = set()

    @server.tool(description="Ask a question soon.", annotations=ToolAnnotations(readOnlyHint=True))
    async def later(ctx: Context) -> str:
        session = ctx.session

        async def ask() -> None:
            await asyncio.sleep(0.3)
            schema = {"type": "object", "properties": {"name": {"type": "string"}}}
            result = await session.elicit_form("Still there?", schema)
            if log:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write("answered " + json.dumps(result.model_dump(mode="json")) + "\n")

        task = asyncio.create_task(ask())
        background.add(task)
        task.add_done_callback(background.discard)
        return "asking soon"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log")
    args = parser.parse_args()
    build(args.log).run("stdio")


if __name__ == "__main__":
    main()
