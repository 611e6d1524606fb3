"""threadline.protocol.v2 package."""
