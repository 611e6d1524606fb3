"""The app-server: transports, connections, dispatch, handlers."""

from threadline.server.app import AppServer
from threadline.server.connection import Connection
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.errors import ConnectionClosedError, RpcError, register_error_code
from threadline.server.handlers import build_method_table

__all__ = [
    "AppServer",
    "Connection",
    "ConnectionClosedError",
    "MethodTable",
    "RequestContext",
    "RpcError",
    "build_method_table",
    "register_error_code",
]
