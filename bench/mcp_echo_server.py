"""A tiny MCP server for ``bench/mcp_call.py``: one tool, ``echo``, that returns its ``text``.

python bench/mcp_echo_server.py stdio
python bench/mcp_echo_server.py http PORT     # streamable HTTP on 127.0.0.1:PORT/mcp
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("bench-echo")


@server.tool()
def echo(text: str) -> str:
    """Return ``text`` unchanged."""
    return text


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "http":
        port = int(sys.argv[2])
        server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
