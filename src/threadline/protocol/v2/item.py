"""Thread items (the turn-level history clients render), user input, and item notifications.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from threadline.protocol.lazy_adapter import LazyTypeAdapter
from threadline.protocol.v2.common import WireModel
from threadline.protocol.v2.item_parts import (
    AgentMessageModeration,
    AsyncUserInputQuestion,
    CollabAgentState,
    CommandAction,
    DynamicToolCallOutputContentItem,
    FileUpdateChange,
    FunctionCallOutputBody,
    HookPromptFragment,
    ImageDetail,
    ImageGenerationFailure,
    ImageGenerationInputImage,
    McpAppUi,
    McpToolCallAppContext,
    McpToolCallError,
    McpToolCallResult,
    MemoryCitation,
    WebSearchAction,
)
from threadline.protocol.v2.settings import AbsolutePathBuf, LegacyAppPathString, ReasoningEffort


def _empty_list() -> list[Any]:
    """A new empty list: the default of list members. Not ``list`` itself: building a
    model's schema asks for its default factory's signature, and the first
    ``inspect.signature`` of a builtin in a process costs 1.5-7 ms (it parses the text
    signature); a Python function's costs microseconds."""
    return []


AgentMessageDelivery = Literal["async"]


class AgentMessageDeltaNotification(WireModel):
    thread_id: str
    turn_id: str
    item_id: str
    delta: str


class ByteRange(WireModel):
    end: int
    start: int


CollabAgentTool = Literal[
    "spawnAgent",
    "sendInput",
    "resumeAgent",
    "wait",
    "closeAgent",
    "sendMessage",
    "followupTask",
    "interruptAgent",
    "listAgents",
]


CollabAgentToolCallStatus = Literal["inProgress", "completed", "failed", "interrupted"]


class CommandExecutionOutputDeltaNotification(WireModel):
    thread_id: str
    turn_id: str
    item_id: str
    delta: str


CommandExecutionSource = Literal[
    "agent", "userShell", "unifiedExecStartup", "unifiedExecInteraction"
]


CommandExecutionStatus = Literal["inProgress", "completed", "failed", "declined"]


DynamicToolCallStatus = Literal["inProgress", "completed", "failed"]


class FileChangeOutputDeltaNotification(WireModel):
    delta: str
    item_id: str
    thread_id: str
    turn_id: str


class FileChangePatchUpdatedNotification(WireModel):
    changes: list[FileUpdateChange]
    item_id: str
    thread_id: str
    turn_id: str


MessagePhase = Literal["commentary", "partial_answer", "final_answer"]


class AgentMessageThreadItem(WireModel):
    id: str
    text: str
    type: Literal["agentMessage"] = "agentMessage"
    completed_at_ms: int | None = None
    delivery: AgentMessageDelivery | None = None
    memory_citation: MemoryCitation | None = None
    moderation: AgentMessageModeration | None = None
    phase: MessagePhase | None = None
    questions: list[AsyncUserInputQuestion] | None = None
    started_at_ms: int | None = None


class CollabAgentToolCallThreadItem(WireModel):
    agents_states: dict[str, CollabAgentState]
    id: str
    receiver_thread_ids: list[str]
    sender_thread_id: str
    status: CollabAgentToolCallStatus
    tool: CollabAgentTool
    type: Literal["collabAgentToolCall"] = "collabAgentToolCall"
    completed_at_ms: int | None = None
    model: str | None = None
    prompt: str | None = None
    reasoning_effort: ReasoningEffort | None = None
    started_at_ms: int | None = None


class CommandExecutionThreadItem(WireModel):
    command: str
    command_actions: list[CommandAction]
    cwd: LegacyAppPathString
    id: str
    status: CommandExecutionStatus
    type: Literal["commandExecution"] = "commandExecution"
    aggregated_output: str | None = None
    completed_at_ms: int | None = None
    duration_ms: int | None = None
    exit_code: int | None = None
    plugin_id: str | None = None
    process_id: str | None = None
    script_path: str | None = None
    source: CommandExecutionSource = "agent"
    started_at_ms: int | None = None


class ContextCompactionThreadItem(WireModel):
    id: str
    type: Literal["contextCompaction"] = "contextCompaction"
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


class DynamicToolCallThreadItem(WireModel):
    arguments: Any = None
    id: str
    status: DynamicToolCallStatus
    tool: str
    type: Literal["dynamicToolCall"] = "dynamicToolCall"
    completed_at_ms: int | None = None
    content_items: list[DynamicToolCallOutputContentItem] | None = None
    duration_ms: int | None = None
    namespace: str | None = None
    started_at_ms: int | None = None
    success: bool | None = None


class EnteredReviewModeThreadItem(WireModel):
    id: str
    review: str
    type: Literal["enteredReviewMode"] = "enteredReviewMode"
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


class ExitedReviewModeThreadItem(WireModel):
    id: str
    review: str
    type: Literal["exitedReviewMode"] = "exitedReviewMode"
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


PatchApplyStatus = Literal["inProgress", "completed", "failed", "declined"]


class FileChangeThreadItem(WireModel):
    changes: list[FileUpdateChange]
    id: str
    status: PatchApplyStatus
    type: Literal["fileChange"] = "fileChange"
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


class FunctionCallOutputThreadItem(WireModel):
    id: str
    name: str
    output: FunctionCallOutputBody
    type: Literal["functionCallOutput"] = "functionCallOutput"
    completed_at_ms: int | None = None
    namespace: str | None = None
    started_at_ms: int | None = None


class HookPromptThreadItem(WireModel):
    fragments: list[HookPromptFragment]
    id: str
    type: Literal["hookPrompt"] = "hookPrompt"
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


class ImageGenerationThreadItem(WireModel):
    _alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("file_id",), ("result",))
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"file_id", "input_images", "result"})
    id: str
    status: str
    type: Literal["imageGeneration"] = "imageGeneration"
    completed_at_ms: int | None = None
    failure: ImageGenerationFailure | None = None
    file_id: str | None = None
    generation_id: str | None = None
    input_images: list[ImageGenerationInputImage] | None = None
    result: str | None = None
    revised_prompt: str | None = None
    saved_path: AbsolutePathBuf | None = None
    started_at_ms: int | None = None
    transparent_background: bool | None = None


class ImageViewThreadItem(WireModel):
    id: str
    path: LegacyAppPathString
    type: Literal["imageView"] = "imageView"
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


McpToolCallStatus = Literal["inProgress", "completed", "failed"]


class McpToolCallThreadItem(WireModel):
    arguments: Any = None
    id: str
    server: str
    status: McpToolCallStatus
    tool: str
    type: Literal["mcpToolCall"] = "mcpToolCall"
    app_context: McpToolCallAppContext | None = None
    completed_at_ms: int | None = None
    duration_ms: int | None = None
    error: McpToolCallError | None = None
    mcp_app_resource_uri: str | None = None
    mcp_app_ui: McpAppUi | None = None
    plugin_id: str | None = None
    read_only_hint: bool | None = None
    result: McpToolCallResult | None = None
    started_at_ms: int | None = None


class PlanThreadItem(WireModel):
    id: str
    text: str
    type: Literal["plan"] = "plan"
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


class ReasoningThreadItem(WireModel):
    id: str
    type: Literal["reasoning"] = "reasoning"
    completed_at_ms: int | None = None
    content: list[str] = Field(default_factory=_empty_list)
    started_at_ms: int | None = None
    summary: list[str] = Field(default_factory=_empty_list)


class SleepThreadItem(WireModel):
    duration_ms: int
    id: str
    type: Literal["sleep"] = "sleep"
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


SubAgentActivityKind = Literal["started", "interacted", "interrupted", "completed"]


class SubAgentActivityThreadItem(WireModel):
    agent_path: str
    agent_thread_id: str
    id: str
    kind: SubAgentActivityKind
    type: Literal["subAgentActivity"] = "subAgentActivity"
    completed_at_ms: int | None = None
    model: str | None = None
    reasoning_effort: ReasoningEffort | None = None
    started_at_ms: int | None = None


class AudioUserInput(WireModel):
    _alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("url",), ("file_id",))
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"file_id", "url"})
    type: Literal["audio"] = "audio"
    file_id: str | None = None
    url: str | None = None


class ImageUserInput(WireModel):
    _alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("url",), ("file_id",))
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"file_id", "url"})
    type: Literal["image"] = "image"
    detail: ImageDetail | None = None
    file_id: str | None = None
    url: str | None = None


class LocalAudioUserInput(WireModel):
    path: str
    type: Literal["localAudio"] = "localAudio"


class LocalImageUserInput(WireModel):
    path: str
    type: Literal["localImage"] = "localImage"
    detail: ImageDetail | None = None


class MentionUserInput(WireModel):
    name: str
    path: str
    type: Literal["mention"] = "mention"


class SkillUserInput(WireModel):
    name: str
    path: str
    type: Literal["skill"] = "skill"


class TextElement(WireModel):
    byte_range: ByteRange
    placeholder: str | None = None


class TextUserInput(WireModel):
    text: str
    type: Literal["text"] = "text"
    text_elements: list[TextElement] = Field(default_factory=_empty_list, alias="text_elements")


UserInput = Annotated[
    TextUserInput
    | ImageUserInput
    | LocalImageUserInput
    | AudioUserInput
    | LocalAudioUserInput
    | SkillUserInput
    | MentionUserInput,
    Field(discriminator="type"),
]


class UserMessageThreadItem(WireModel):
    content: list[UserInput]
    id: str
    type: Literal["userMessage"] = "userMessage"
    client_id: str | None = None
    completed_at_ms: int | None = None
    started_at_ms: int | None = None


class WebSearchThreadItem(WireModel):
    id: str
    query: str
    type: Literal["webSearch"] = "webSearch"
    action: WebSearchAction | None = None
    completed_at_ms: int | None = None
    results: list[Any] | None = None
    started_at_ms: int | None = None


ThreadItem = Annotated[
    UserMessageThreadItem
    | HookPromptThreadItem
    | AgentMessageThreadItem
    | FunctionCallOutputThreadItem
    | PlanThreadItem
    | ReasoningThreadItem
    | CommandExecutionThreadItem
    | FileChangeThreadItem
    | McpToolCallThreadItem
    | DynamicToolCallThreadItem
    | CollabAgentToolCallThreadItem
    | SubAgentActivityThreadItem
    | WebSearchThreadItem
    | ImageViewThreadItem
    | SleepThreadItem
    | ImageGenerationThreadItem
    | EnteredReviewModeThreadItem
    | ExitedReviewModeThreadItem
    | ContextCompactionThreadItem,
    Field(discriminator="type"),
]


class ItemCompletedNotification(WireModel):
    item: ThreadItem
    thread_id: str
    turn_id: str
    content_token_count: int | None = None
    completed_at_ms: int


class ItemStartedNotification(WireModel):
    item: ThreadItem
    thread_id: str
    turn_id: str
    started_at_ms: int


class McpToolCallProgressNotification(WireModel):
    item_id: str
    message: str
    thread_id: str
    turn_id: str


class PlanDeltaNotification(WireModel):
    delta: str
    item_id: str
    thread_id: str
    turn_id: str


class ReasoningSummaryPartAddedNotification(WireModel):
    thread_id: str
    turn_id: str
    item_id: str
    summary_index: int


class ReasoningSummaryTextDeltaNotification(WireModel):
    thread_id: str
    turn_id: str
    item_id: str
    delta: str
    summary_index: int


class ReasoningTextDeltaNotification(WireModel):
    content_index: int
    delta: str
    item_id: str
    thread_id: str
    turn_id: str


class TerminalInteractionNotification(WireModel):
    item_id: str
    process_id: str
    stdin: str
    thread_id: str
    turn_id: str


thread_item_adapter: LazyTypeAdapter[ThreadItem] = LazyTypeAdapter(ThreadItem)
"""Validates and dumps any ``ThreadItem`` variant (dispatch on ``type``); built on first use."""

user_input_adapter: LazyTypeAdapter[UserInput] = LazyTypeAdapter(UserInput)
"""Validates and dumps any ``UserInput`` variant (dispatch on ``type``); built on first use."""


__all__ = [
    "AgentMessageDelivery", "AgentMessageDeltaNotification", "AgentMessageThreadItem",
    "AudioUserInput", "ByteRange", "CollabAgentTool", "CollabAgentToolCallStatus",
    "CollabAgentToolCallThreadItem", "CommandExecutionOutputDeltaNotification",
    "CommandExecutionSource", "CommandExecutionStatus", "CommandExecutionThreadItem",
    "ContextCompactionThreadItem", "DynamicToolCallStatus", "DynamicToolCallThreadItem",
    "EnteredReviewModeThreadItem", "ExitedReviewModeThreadItem",
    "FileChangeOutputDeltaNotification", "FileChangePatchUpdatedNotification",
    "FileChangeThreadItem",
    "FunctionCallOutputThreadItem", "HookPromptThreadItem", "ImageGenerationThreadItem",
    "ImageUserInput", "ImageViewThreadItem", "ItemCompletedNotification",
    "ItemStartedNotification", "LocalAudioUserInput", "LocalImageUserInput",
    "McpToolCallProgressNotification", "McpToolCallStatus", "McpToolCallThreadItem",
    "MentionUserInput", "MessagePhase", "PatchApplyStatus", "PlanDeltaNotification",
    "PlanThreadItem", "ReasoningSummaryPartAddedNotification",
    "ReasoningSummaryTextDeltaNotification", "ReasoningTextDeltaNotification",
    "ReasoningThreadItem", "SkillUserInput", "SleepThreadItem", "SubAgentActivityKind",
    "SubAgentActivityThreadItem", "TerminalInteractionNotification", "TextElement",
    "TextUserInput", "ThreadItem", "UserInput", "UserMessageThreadItem", "WebSearchThreadItem",
    "thread_item_adapter", "user_input_adapter",
]
