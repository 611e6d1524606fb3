"""threadline.model package."""
