"""A small MCP server for the tests, written with the `mcp` SDK (stdio, or streamable HTTP with --port).

Tools: echo, add (structured output), fail (isError), slow (sleeps), crash (exits the process),
progress (reports progress), grow (adds a tool and sends tools/list_changed), ask (elicits a name),
env (reads an environment variable), plus a resource ``memo://greeting``.
Flags: --port N (HTTP on 127.0.0.1), --crash-at-start, --slow-start SECONDS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel


class Person(BaseModel):
    name: str


def build(label: str) -> MCPServer:
    server = MCPServer(name=f"toolbox-{label}")

    @server.tool(description="Echo the text back.", annotations=ToolAnnotations(readOnlyHint=True))
    def echo(text: str) -> str:
        return f"{label}:{text}"

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @server.tool(description="Always fails.")
    def fail(reason: str = "boom") -> str:
        raise ToolError(reason)

    @server.tool(description="Sleep, then answer.")
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    @server.tool(description="Exit the server process.")
    def crash() -> str:
        os._exit(3)

    @server.tool(description="Report progress three times.")
    async def progress(ctx: Context) -> str:
        for i in range(3):
            await ctx.report_progress(i + 1, 3, f"step {i + 1}")
        return "progressed"

    @server.tool(description="Add the tool 'extra' and announce the change.")
    async def grow(ctx: Context) -> str:
        def extra() -> str:
            return "extra!"

        server.add_tool(extra, name="extra", description="Added later.")
        await ctx.session.send_tool_list_changed()
        return "grown"

    @server.tool(description="Ask the user for a name.")
    async def ask(ctx: Context) -> str:
        result = await ctx.elicit("What is your name?", Person)
        if result.action == "accept":
            return f"hello {result.data.name}"
        return result.action

    @server.tool(description="Read an environment variable.")
    def env(name: str) -> str:
        return os.environ.get(name, "<unset>")

    @server.tool(description="The HTTP request's Authorization and X-A headers (HTTP only).")
    def whoami(ctx: Context) -> str:
        request = ctx.request_context.request
        headers = getattr(request, "headers", None) or {}
        return f"{headers.get('authorization', '-')}|{headers.get('x-a', '-')}"

    @server.resource("memo://greeting", description="A greeting.", mime_type="text/plain")
    def greeting() -> str:
        return f"greetings from {label}"

    @server.resource(
        "memo://pixel", description="Four bytes.", mime_type="application/octet-stream"
    )
    def pixel() -> bytes:
        return b"\x00\x01\x02\x03"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--label", default="toolbox")
    parser.add_argument("--crash-at-start", action="store_true")
    parser.add_argument("--slow-start", type=float, default=0.0)
    args = parser.parse_args()
    if args.crash_at_start:
        print("toolbox: crashing at start on purpose", file=sys.stderr)
        sys.exit(2)
    if args.slow_start:
        time.sleep(args.slow_start)
    server = build(args.label)
    if args.port is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
