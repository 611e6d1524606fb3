"""The :class:`Runtime` every handler is given (apart from ``handlers/common.py``'s wire
builders, so that registering the handlers loads no wire type: ``initialize`` needs none)."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from threadline.core.manager import ThreadManager
from threadline.protocol.records import record
from threadline.server.router import Broadcast, ThreadRouter

if TYPE_CHECKING:  # command_exec loads with the first command, files_watch with fs/watch
    from threadline.core.command_exec import CommandExecRunner
    from threadline.core.files_watch import ConnectionFiles

__all__ = ["Runtime"]


@record
class Runtime:
    """What the handlers share: the thread manager, the event router, and the broadcast
    to every initialized connection."""

    manager: ThreadManager
    router: ThreadRouter
    broadcast: Broadcast
    _commands: list[CommandExecRunner] = field(default_factory=list, init=False, repr=False)
    _files: list[ConnectionFiles] = field(default_factory=list, init=False, repr=False)

    @property
    def files(self) -> ConnectionFiles:
        """The ``fs/watch`` watches and ``fuzzyFileSearch`` cancellations, by connection
        (made with the first watch or search)."""
        if not self._files:
            from threadline.core.files_watch import ConnectionFiles

            self._files.append(ConnectionFiles())
        return self._files[0]

    @property
    def commands(self) -> CommandExecRunner:
        """The ``command/exec`` processes, by connection (made with the first command)."""
        if not self._commands:
            from threadline.core.command_exec import CommandExecRunner

            self._commands.append(CommandExecRunner())
        return self._commands[0]
