"""Building blocks of thread items: command actions, file changes, tool outputs and the like.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.settings import AbsolutePathBuf, LegacyAppPathString


class AgentMessageDisplay(WireModel):
    action: str
    block_type: str | None = None
    check_trusted_contacts: bool | None = None
    cyber_trusted_access: bool | None = None


class AgentMessageModeration(WireModel):
    moderated: bool
    display: AgentMessageDisplay | None = None


class AsyncUserInputQuestion(WireModel):
    title: str
    options: list[str] | None = None


CollabAgentStatus = Literal[
    "pendingInit", "running", "interrupted", "completed", "errored", "shutdown", "notFound"
]


class CollabAgentState(WireModel):
    status: CollabAgentStatus
    message: str | None = None


class ReadCommandAction(WireModel):
    command: str
    name: str
    path: LegacyAppPathString
    type: Literal["read"] = "read"


class ListFilesCommandAction(WireModel):
    command: str
    type: Literal["listFiles"] = "listFiles"
    path: str | None = None


class SearchCommandAction(WireModel):
    command: str
    type: Literal["search"] = "search"
    path: str | None = None
    query: str | None = None


class UnknownCommandAction(WireModel):
    command: str
    type: Literal["unknown"] = "unknown"


CommandAction = Annotated[
    ReadCommandAction | ListFilesCommandAction | SearchCommandAction | UnknownCommandAction,
    Field(discriminator="type"),
]


class InputTextDynamicToolCallOutputContentItem(WireModel):
    text: str
    type: Literal["inputText"] = "inputText"


class InputImageDynamicToolCallOutputContentItem(WireModel):
    image_url: str
    type: Literal["inputImage"] = "inputImage"


class InputAudioDynamicToolCallOutputContentItem(WireModel):
    audio_url: str
    type: Literal["inputAudio"] = "inputAudio"


DynamicToolCallOutputContentItem = Annotated[
    InputTextDynamicToolCallOutputContentItem
    | InputImageDynamicToolCallOutputContentItem
    | InputAudioDynamicToolCallOutputContentItem,
    Field(discriminator="type"),
]


class AddPatchChangeKind(WireModel):
    type: Literal["add"] = "add"


class DeletePatchChangeKind(WireModel):
    type: Literal["delete"] = "delete"


class UpdatePatchChangeKind(WireModel):
    type: Literal["update"] = "update"
    move_path: str | None = Field(default=None, alias="move_path")


PatchChangeKind = Annotated[
    AddPatchChangeKind | DeletePatchChangeKind | UpdatePatchChangeKind, Field(discriminator="type")
]


class FileUpdateChange(WireModel):
    diff: str
    kind: PatchChangeKind
    path: str


class EncryptedContentFunctionCallOutputContentItem(WireModel):
    encrypted_content: str = Field(alias="encrypted_content")
    type: Literal["encrypted_content"] = "encrypted_content"


class InputAudioFunctionCallOutputContentItem(WireModel):
    _alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("audio_url",), ("file_id",))
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"audio_url", "file_id"})
    type: Literal["input_audio"] = "input_audio"
    audio_url: str | None = Field(default=None, alias="audio_url")
    file_id: str | None = Field(default=None, alias="file_id")


ImageDetail = Literal["auto", "low", "high", "original"]


class InputImageFunctionCallOutputContentItem(WireModel):
    _alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("image_url",), ("file_id",))
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"file_id", "image_url"})
    type: Literal["input_image"] = "input_image"
    detail: ImageDetail | None = None
    file_id: str | None = Field(default=None, alias="file_id")
    image_url: str | None = Field(default=None, alias="image_url")


class InputTextFunctionCallOutputContentItem(WireModel):
    text: str
    type: Literal["input_text"] = "input_text"


FunctionCallOutputContentItem = Annotated[
    InputTextFunctionCallOutputContentItem
    | InputImageFunctionCallOutputContentItem
    | InputAudioFunctionCallOutputContentItem
    | EncryptedContentFunctionCallOutputContentItem,
    Field(discriminator="type"),
]


FunctionCallOutputBody = str | list[FunctionCallOutputContentItem]


class HookPromptFragment(WireModel):
    hook_run_id: str
    text: str


class UsageLimitExceededImageGenerationFailure(WireModel):
    limit_id: str
    type: Literal["usageLimitExceeded"] = "usageLimitExceeded"
    resets_at: int | None = None


ImageGenerationFailure = UsageLimitExceededImageGenerationFailure


class ImageGenerationInputImage(WireModel):
    path: AbsolutePathBuf
    sha256: str


McpAppDisplayMode = Literal["inline", "fullscreen"]


class McpAppUi(WireModel):
    preferred_model_display_mode: McpAppDisplayMode
    resource_uri: str


class McpToolCallAppContext(WireModel):
    connector_id: str
    action_name: str | None = None
    app_name: str | None = None
    link_id: str | None = None
    resource_uri: str | None = None


class McpToolCallError(WireModel):
    message: str


class McpToolCallResult(WireModel):
    content: list[Any]
    meta: Any = Field(default=None, alias="_meta")
    structured_content: Any = None


class MemoryCitationEntry(WireModel):
    line_end: int
    line_start: int
    note: str
    path: str


class MemoryCitation(WireModel):
    entries: list[MemoryCitationEntry]
    thread_ids: list[str]


class SearchWebSearchAction(WireModel):
    type: Literal["search"] = "search"
    queries: list[str] | None = None
    query: str | None = None


class OpenPageWebSearchAction(WireModel):
    type: Literal["openPage"] = "openPage"
    url: str | None = None


class FindInPageWebSearchAction(WireModel):
    type: Literal["findInPage"] = "findInPage"
    pattern: str | None = None
    url: str | None = None


class OtherWebSearchAction(WireModel):
    type: Literal["other"] = "other"


WebSearchAction = Annotated[
    SearchWebSearchAction
    | OpenPageWebSearchAction
    | FindInPageWebSearchAction
    | OtherWebSearchAction,
    Field(discriminator="type"),
]


__all__ = [
    "AddPatchChangeKind", "AgentMessageDisplay", "AgentMessageModeration",
    "AsyncUserInputQuestion", "CollabAgentState", "CollabAgentStatus", "CommandAction",
    "DeletePatchChangeKind", "DynamicToolCallOutputContentItem",
    "EncryptedContentFunctionCallOutputContentItem", "FileUpdateChange",
    "FindInPageWebSearchAction", "FunctionCallOutputBody", "FunctionCallOutputContentItem",
    "HookPromptFragment", "ImageDetail", "ImageGenerationFailure", "ImageGenerationInputImage",
    "InputAudioDynamicToolCallOutputContentItem", "InputAudioFunctionCallOutputContentItem",
    "InputImageDynamicToolCallOutputContentItem", "InputImageFunctionCallOutputContentItem",
    "InputTextDynamicToolCallOutputContentItem", "InputTextFunctionCallOutputContentItem",
    "ListFilesCommandAction", "McpAppDisplayMode", "McpAppUi", "McpToolCallAppContext",
    "McpToolCallError", "McpToolCallResult", "MemoryCitation", "MemoryCitationEntry",
    "OpenPageWebSearchAction", "OtherWebSearchAction", "PatchChangeKind", "ReadCommandAction",
    "SearchCommandAction", "SearchWebSearchAction", "UnknownCommandAction",
    "UpdatePatchChangeKind", "UsageLimitExceededImageGenerationFailure", "WebSearchAction",
]
