"""Server requests a tool call makes of the client: the user's answers
(``item/tool/requestUserInput``), a client-defined tool (``item/tool/call``) and extra
sandbox permissions (``item/permissions/requestApproval``).

Field names follow Codex 0.169.0's schema (``ToolRequestUserInputParams``,
``DynamicToolCallParams``, ``PermissionsRequestApprovalParams`` and their responses).
"""

from typing import Any, Literal

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.item_parts import DynamicToolCallOutputContentItem

# ---- request_user_input -------------------------------------------------------------------


class ToolRequestUserInputOption(WireModel):
    label: str
    description: str


class ToolRequestUserInputQuestion(WireModel):
    id: str
    header: str
    question: str
    is_other: bool = False
    is_secret: bool = False
    options: list[ToolRequestUserInputOption] | None = None


class ToolRequestUserInputParams(WireModel):
    thread_id: str
    turn_id: str
    item_id: str
    questions: list[ToolRequestUserInputQuestion]
    is_blocking: bool = True
    auto_resolution_ms: int | None = None


class ToolRequestUserInputAnswer(WireModel):
    answers: list[str]


class ToolRequestUserInputResponse(WireModel):
    answers: dict[str, ToolRequestUserInputAnswer]


# ---- client-defined (dynamic) tools -------------------------------------------------------


class DynamicToolCallParams(WireModel):
    thread_id: str
    turn_id: str
    call_id: str
    namespace: str | None = None
    tool: str
    arguments: Any = None


class DynamicToolCallResponse(WireModel):
    content_items: list[DynamicToolCallOutputContentItem]
    success: bool


# ---- permissions --------------------------------------------------------------------------


class PathFileSystemPath(WireModel):
    type: Literal["path"] = "path"
    path: str


class FileSystemSandboxEntry(WireModel):
    path: PathFileSystemPath
    access: Literal["read", "write", "deny"]


class AdditionalFileSystemPermissions(WireModel):
    read: list[str] | None = None
    write: list[str] | None = None
    entries: list[FileSystemSandboxEntry] | None = None


class AdditionalNetworkPermissions(WireModel):
    enabled: bool | None = None


class PermissionProfile(WireModel):
    """``RequestPermissionProfile`` (asked) and ``GrantedPermissionProfile`` (granted)."""

    network: AdditionalNetworkPermissions | None = None
    file_system: AdditionalFileSystemPermissions | None = None


class PermissionsRequestApprovalParams(WireModel):
    thread_id: str
    turn_id: str
    item_id: str
    environment_id: str | None = "local"
    started_at_ms: int
    cwd: str
    reason: str | None = None
    permissions: PermissionProfile


class PermissionsRequestApprovalResponse(WireModel):
    permissions: PermissionProfile
    scope: Literal["turn", "session"] = "turn"
    strict_auto_review: bool | None = None


__all__ = [
    "AdditionalFileSystemPermissions",
    "AdditionalNetworkPermissions",
    "DynamicToolCallParams",
    "DynamicToolCallResponse",
    "FileSystemSandboxEntry",
    "PathFileSystemPath",
    "PermissionProfile",
    "PermissionsRequestApprovalParams",
    "PermissionsRequestApprovalResponse",
    "ToolRequestUserInputAnswer",
    "ToolRequestUserInputOption",
    "ToolRequestUserInputParams",
    "ToolRequestUserInputQuestion",
    "ToolRequestUserInputResponse",
]
