"""threadline.server.handlers package."""
