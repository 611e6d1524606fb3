"""threadline.tools package."""
