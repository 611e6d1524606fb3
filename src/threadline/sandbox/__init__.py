"""threadline.sandbox package."""
