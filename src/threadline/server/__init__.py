"""threadline.server package."""
