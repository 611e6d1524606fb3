"""threadline: the Codex agent-thread runtime and its app-server v2 protocol, in Python."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
