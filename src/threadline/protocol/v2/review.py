"""Wire types of the ``review`` area (Codex 0.169 schema), and its rows of the method table."""

from __future__ import annotations

from pydantic import BaseModel

REQUESTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {}
"""Client requests of this area: method -> (params type, response type)."""

NOTIFICATIONS: dict[str, type[BaseModel]] = {}
"""Server notifications of this area: method -> params type."""

__all__ = ["NOTIFICATIONS", "REQUESTS"]
