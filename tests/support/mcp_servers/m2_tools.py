"""A small MCP server over stdio for the model-facing MCP tool tests.

Tools: ``echo`` (text), ``weather`` (structured content), ``picture`` (an image and a
caption), ``boom`` (``isError``), ``slow`` (progress notifications, then text),
``signup`` (elicits a name and an age with the SDK's ``ctx.elicit``, then says what it got).
"""

from __future__ import annotations

import base64
import struct
import zlib

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ImageContent, TextContent
from pydantic import BaseModel


def tiny_png() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


server = MCPServer("m2-tools")


@server.tool(description="Echo the text back.")
def echo(text: str) -> str:
    return f"echo: {text}"


@server.tool(description="The weather in a city.")
def weather(city: str) -> dict[str, object]:
    return {"city": city, "celsius": 21}


@server.tool(description="A tiny picture.")
def picture() -> list[TextContent | ImageContent]:
    data = base64.b64encode(tiny_png()).decode()
    return [
        TextContent(type="text", text="a red dot"),
        ImageContent(type="image", data=data, mime_type="image/png"),
    ]


@server.tool(description="Always fails.")
def boom() -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text="it broke")], is_error=True)


@server.tool(description="Reports progress twice.")
async def slow(ctx: Context) -> str:
    await ctx.report_progress(1, 2, "half way")
    await ctx.report_progress(2, 2)
    return "done"


class Signup(BaseModel):
    name: str
    age: int


@server.tool(description="Asks the user for a name and an age.")
async def signup(ctx: Context) -> str:
    answer = await ctx.elicit("Who are you?", schema=Signup)
    if answer.action == "accept":
        return f"accepted {answer.data.name} {answer.data.age}"
    return answer.action


if __name__ == "__main__":
    server.run()
