"""v2 app-server wire types (camelCase JSON): every public name of the resource modules
below, re-exported; each module's own ``__all__`` says which of its names are public."""

from threadline.protocol.v2 import (
    approval,
    common,
    config,
    item,
    item_parts,
    misc,
    settings,
    thread,
    turn,
    usage,
)
from threadline.protocol.v2.approval import *  # noqa: F403
from threadline.protocol.v2.common import *  # noqa: F403
from threadline.protocol.v2.config import *  # noqa: F403
from threadline.protocol.v2.item import *  # noqa: F403
from threadline.protocol.v2.item_parts import *  # noqa: F403
from threadline.protocol.v2.misc import *  # noqa: F403
from threadline.protocol.v2.settings import *  # noqa: F403
from threadline.protocol.v2.thread import *  # noqa: F403
from threadline.protocol.v2.turn import *  # noqa: F403
from threadline.protocol.v2.usage import *  # noqa: F403

__all__ = sorted(
    [
        *approval.__all__,
        *common.__all__,
        *config.__all__,
        *item.__all__,
        *item_parts.__all__,
        *misc.__all__,
        *settings.__all__,
        *thread.__all__,
        *turn.__all__,
        *usage.__all__,
    ]
)
