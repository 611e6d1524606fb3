"""The app-server: transports, connections, dispatch, handlers."""

from threadline.server.app import AppServer
from threadline.server.build import build_app_server
from threadline.server.connection import Connection
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.errors import ConnectionClosedError, RpcError

__all__ = [
    "AppServer",
    "Connection",
    "ConnectionClosedError",
    "MethodTable",
    "RequestContext",
    "RpcError",
    "build_app_server",
]
