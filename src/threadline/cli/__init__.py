"""threadline.cli package."""
