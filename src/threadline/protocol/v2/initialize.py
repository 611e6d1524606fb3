"""``initialize``: the first request on every connection, and its answer."""

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ClientInfo(_Wire):
    """Who the client is; ``name`` becomes the thread's ``originator``."""

    name: str
    title: str | None = None
    version: str


class InitializeCapabilities(_Wire):
    """What the client opts into (or out of) for this connection."""

    experimental_api: bool = False
    opt_out_notification_methods: list[str] | None = None


class InitializeParams(_Wire):
    """Params of the ``initialize`` request."""

    client_info: ClientInfo
    capabilities: InitializeCapabilities | None = None


class InitializeResponse(_Wire):
    """Result of ``initialize``.

    ``user_agent`` starts with ``<server name>/<server version>``: clients such as
    the official Python SDK take the server's name and version from it.
    """

    user_agent: str
    codex_home: str = Field(description="Absolute path of the server's home directory.")
    platform_family: str
    platform_os: str
