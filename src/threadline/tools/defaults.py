"""Defaults of the tools that the config names too (no imports: loading the config does
not load the tools)."""

DEFAULT_TIMEOUT_S = 120.0
"""Seconds a command the model runs may take unless the config or the call says otherwise."""
