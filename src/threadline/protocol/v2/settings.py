"""Approval, sandbox, reasoning and other setting types shared by several v2 messages.

Generated from the Codex 0.169.0 v2 JSON Schema, then kept by hand.
"""

from typing import Annotated, Literal

from pydantic import Field

from threadline.protocol.v2.common import WireModel

AbsolutePathBuf = str


ApprovalsReviewer = Literal["user", "auto_review", "guardian_subagent"]


class GranularDetails(WireModel):
    mcp_elicitations: bool = Field(alias="mcp_elicitations")
    rules: bool
    sandbox_approval: bool = Field(alias="sandbox_approval")
    request_permissions: bool = Field(default=False, alias="request_permissions")
    skill_approval: bool = Field(default=False, alias="skill_approval")


class GranularAskForApproval(WireModel):
    granular: GranularDetails


AskForApproval = Literal["untrusted", "on-request", "never"] | GranularAskForApproval


ModeKind = Literal["plan", "default"]


ReasoningEffort = str


class Settings(WireModel):
    model: str
    developer_instructions: str | None = Field(default=None, alias="developer_instructions")
    reasoning_effort: ReasoningEffort | None = Field(default=None, alias="reasoning_effort")


class CollaborationMode(WireModel):
    mode: ModeKind
    settings: Settings


LegacyAppPathString = str


NetworkAccess = Literal["restricted", "enabled"]


Personality = Literal["none", "friendly", "pragmatic"]


ReasoningSummary = Literal["auto", "concise", "detailed", "none"]


RequestId = str | int


SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]


class DangerFullAccessSandboxPolicy(WireModel):
    type: Literal["dangerFullAccess"] = "dangerFullAccess"


class ReadOnlySandboxPolicy(WireModel):
    type: Literal["readOnly"] = "readOnly"
    network_access: bool = False


class ExternalSandboxSandboxPolicy(WireModel):
    type: Literal["externalSandbox"] = "externalSandbox"
    network_access: NetworkAccess = "restricted"


class WorkspaceWriteSandboxPolicy(WireModel):
    type: Literal["workspaceWrite"] = "workspaceWrite"
    exclude_slash_tmp: bool = False
    exclude_tmpdir_env_var: bool = False
    network_access: bool = False
    writable_roots: list[AbsolutePathBuf] = Field(default_factory=list)


SandboxPolicy = Annotated[
    DangerFullAccessSandboxPolicy
    | ReadOnlySandboxPolicy
    | ExternalSandboxSandboxPolicy
    | WorkspaceWriteSandboxPolicy,
    Field(discriminator="type"),
]


SortDirection = Literal["asc", "desc"]


ThreadId = str


__all__ = [
    "AbsolutePathBuf", "ApprovalsReviewer", "AskForApproval", "CollaborationMode",
    "DangerFullAccessSandboxPolicy", "ExternalSandboxSandboxPolicy", "GranularAskForApproval",
    "GranularDetails", "LegacyAppPathString", "ModeKind", "NetworkAccess", "Personality",
    "ReadOnlySandboxPolicy", "ReasoningEffort", "ReasoningSummary", "RequestId", "SandboxMode",
    "SandboxPolicy", "Settings", "SortDirection", "ThreadId", "WorkspaceWriteSandboxPolicy",
]
