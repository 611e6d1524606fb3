"""threadline.protocol package."""
