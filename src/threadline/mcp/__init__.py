"""threadline.mcp package."""
