"""Who the server says it is in the ``initialize`` answer: platform, OS, terminal, user agent."""

from __future__ import annotations

import os
import platform
import re
import sys

__all__ = ["os_description", "platform_family", "platform_os", "terminal_token", "user_agent"]


def platform_family() -> str:
    return "windows" if sys.platform.startswith("win") else "unix"


def platform_os() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return sys.platform


def os_description() -> str:
    """``Debian GNU/Linux 12``-style name and version of the operating system."""
    if sys.platform.startswith("linux"):
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            release = {}
        name = release.get("NAME") or "Linux"
        version = release.get("VERSION_ID") or platform.release()
        return f"{name} {version}"
    if sys.platform == "darwin":
        return f"Mac OS {platform.mac_ver()[0] or platform.release()}"
    return f"{platform.system() or sys.platform} {platform.release()}"


def _token(text: str) -> str:
    """``text`` with characters that do not belong in a User-Agent replaced by ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9._/+:@-]", "_", text.strip())
    return cleaned or "unknown"


def terminal_token() -> str:
    """The terminal the server runs in, as the reference reports it (``unknown`` when none)."""
    program = os.environ.get("TERM_PROGRAM")
    if program:
        version = os.environ.get("TERM_PROGRAM_VERSION")
        return _token(f"{program}/{version}" if version else program)
    term = os.environ.get("TERM")
    return _token(term) if term else "unknown"


def user_agent(server_name: str, version: str, client_name: str, client_version: str) -> str:
    """The reference's shape, with our name first so clients read ``threadline/<version>``:
    ``threadline/<version> (<os> <os version>; <arch>) <terminal> (<client>; <client version>)``.
    """
    return (
        f"{server_name}/{version} ({os_description()}; {platform.machine() or 'unknown'})"
        f" {terminal_token()} ({_token(client_name)}; {_token(client_version)})"
    )
