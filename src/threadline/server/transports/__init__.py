"""threadline.server.transports package."""
