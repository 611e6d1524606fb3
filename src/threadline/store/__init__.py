"""threadline.store package."""
