"""An MCP server whose tools carry each combination of annotations that decides approval
(for the MCP approval tests and probes). Every tool answers ``ran <name>`` and appends its
name to the file named by ``--log`` (so a test sees whether the call reached the server).

Tools: ``look`` (readOnlyHint), ``tweak`` (not read-only, destructiveHint false),
``wipe`` (destructiveHint true), ``web`` (not read-only, not destructive, openWorldHint),
``calm`` (not read-only, not destructive, openWorldHint left out), ``soft`` (only
destructiveHint false), ``plain`` (no annotations).
"""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer
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
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log")
    args = parser.parse_args()
    build(args.log).run("stdio")


if __name__ == "__main__":
    main()
