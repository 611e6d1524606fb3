"""threadline.rollout package."""
