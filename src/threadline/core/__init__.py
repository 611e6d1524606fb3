"""threadline.core package."""
