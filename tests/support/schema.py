"""The reference JSON Schema (Codex 0.169.0) and validation of server→client messages.

Schema directory: ``$THREADLINE_REFERENCE_DIR/schema``, else
``<repo>/../shared/reference/codex-0.169.0/schema``. A missing schema is a hard
error: the conformance checks must never be skipped silently.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference" / "codex-0.169.0"

# Client methods whose request has no params $ref: their response definition by name.
_RESPONSE_OVERRIDES = {
    "account/logout": "LogoutAccountResponse",
    "account/rateLimits/read": "GetAccountRateLimitsResponse",
    "account/usage/read": "GetAccountTokenUsageResponse",
    "configRequirements/read": "ConfigRequirementsReadResponse",
    "config/value/write": "ConfigWriteResponse",
    "config/batchWrite": "ConfigWriteResponse",
    "config/mcpServer/reload": "McpServerRefreshResponse",
    "account/workspaceMessages/read": "GetWorkspaceMessagesResponse",
    "account/securitySetup/read": "GetAccountSecuritySetupResponse",
    "account/gatewayOAuth/cancel": "GatewayOAuthCancelResponse",
    "windowsSandbox/readiness": "WindowsSandboxReadinessResponse",
    "externalAgentConfig/import/readHistories": "ExternalAgentConfigImportHistoriesReadResponse",
}


class SchemaMissingError(RuntimeError):
    """The reference schema directory is not where it must be."""


class SchemaViolation(AssertionError):
    """A server→client message does not match the reference schema."""


def reference_dir() -> Path:
    env = os.environ.get("THREADLINE_REFERENCE_DIR")
    return Path(env) if env else DEFAULT_REFERENCE_DIR


def schema_dir() -> Path:
    path = reference_dir() / "schema"
    if not (path / "ServerNotification.json").is_file():
        raise SchemaMissingError(
            f"reference schema not found at {path} "
            "(set THREADLINE_REFERENCE_DIR to the codex-0.169.0 reference directory)"
        )
    return path


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((schema_dir() / name).read_text(encoding="utf-8"))
    return data


def _method_of(entry: dict[str, Any]) -> str:
    return str(entry["properties"]["method"]["enum"][0])


def _params_ref(entry: dict[str, Any]) -> str | None:
    params = entry["properties"].get("params") or {}
    candidates = [params, *params.get("anyOf", []), *params.get("oneOf", [])]
    for candidate in candidates:
        ref = candidate.get("$ref") if isinstance(candidate, dict) else None
        if ref:
            return str(ref).rsplit("/", 1)[-1]
    return None


class SchemaRegistry:
    """Validators for every kind of server→client message."""

    def __init__(self) -> None:
        root = schema_dir()
        self.root = root
        # The combined file is self-consistent: v2 types live under definitions/v2.
        self._defs: dict[str, Any] = _load("codex_app_server_protocol.schemas.json")["definitions"]
        self.notifications = self._by_method(_load("ServerNotification.json"))
        self.server_requests = self._by_method(_load("ServerRequest.json"))
        client_requests = _load("ClientRequest.json")
        self.client_methods: dict[str, str | None] = {}
        for entry in client_requests["oneOf"]:
            method = _method_of(entry)
            params = _params_ref(entry)
            response = None
            if method in _RESPONSE_OVERRIDES:
                response = _RESPONSE_OVERRIDES[method]
            elif params and params.endswith("Params"):
                response = params[: -len("Params")] + "Response"
            self.client_methods[method] = response if self._pointer(response) else None
        error_schema = _load("JSONRPCError.json")
        self.error = Draft7Validator(error_schema)
        self.error_object = Draft7Validator(
            {"$ref": "#/definitions/JSONRPCErrorError", **_defs_of(error_schema)}
        )
        self._response_validators: dict[str, Draft7Validator] = {}

    @staticmethod
    def _by_method(doc: dict[str, Any]) -> dict[str, Draft7Validator]:
        defs = {"definitions": doc.get("definitions", {})}
        top_properties = doc.get("properties", {})
        out: dict[str, Draft7Validator] = {}
        for entry in doc["oneOf"]:
            schema = dict(entry)
            schema["properties"] = {**top_properties, **entry["properties"]}
            out[_method_of(entry)] = Draft7Validator({**schema, **defs})
        return out

    def _pointer(self, name: str | None) -> str | None:
        if name is None:
            return None
        if name in self._defs.get("v2", {}):
            return f"#/definitions/v2/{name}"
        if name in self._defs:
            return f"#/definitions/{name}"
        return None

    def response_validator(self, method: str) -> Draft7Validator | None:
        """The validator for the result of client request ``method`` (None: not a reference method)."""
        pointer = self._pointer(self.client_methods.get(method))
        if pointer is None:
            return None
        if pointer not in self._response_validators:
            self._response_validators[pointer] = Draft7Validator(
                {"$ref": pointer, "definitions": self._defs}
            )
        return self._response_validators[pointer]

    # -- checks -----------------------------------------------------------------

    def validate_s2c(self, message: Any, request_method: str | None = None) -> None:
        """Raise :class:`SchemaViolation` unless ``message`` is a valid server→client message.

        ``request_method`` is the method of the client request a response answers
        (``None`` when unknown: then only the envelope is checked).
        """
        if not isinstance(message, dict):
            raise SchemaViolation(f"server sent a non-object: {message!r}")
        if "jsonrpc" in message:
            raise SchemaViolation(f"server wrote a jsonrpc member: {message!r}")
        if "method" in message and "id" in message:
            self._check_server_request(message)
        elif "method" in message:
            self._check_notification(message)
        elif "error" in message:
            self._check_error(message)
        elif "result" in message and "id" in message:
            self._check_response(message, request_method)
        else:
            raise SchemaViolation(f"unclassifiable server message: {message!r}")

    def _check_notification(self, message: dict[str, Any]) -> None:
        method = message["method"]
        validator = self.notifications.get(method)
        if validator is None:
            raise SchemaViolation(f"notification method not in ServerNotification.json: {method}")
        if not isinstance(message.get("emittedAtMs"), int):
            raise SchemaViolation(f"notification without integer emittedAtMs: {message!r}")
        _raise_first(validator, message, f"notification {method}")

    def _check_server_request(self, message: dict[str, Any]) -> None:
        method = message["method"]
        validator = self.server_requests.get(method)
        if validator is None:
            raise SchemaViolation(f"server request method not in ServerRequest.json: {method}")
        if not isinstance(message["id"], int) or isinstance(message["id"], bool):
            raise SchemaViolation(f"server request id must be an integer: {message!r}")
        _raise_first(validator, message, f"server request {method}")

    def _check_error(self, message: dict[str, Any]) -> None:
        if set(message) != {"id", "error"}:
            raise SchemaViolation(f"error message with unexpected members: {message!r}")
        if message["id"] is None:
            # JSON-RPC 2.0 requires a null id when the request could not be
            # identified; the reference schema has no room for it.
            _raise_first(self.error_object, message["error"], "error object")
        else:
            _raise_first(self.error, message, "error")

    def _check_response(self, message: dict[str, Any], method: str | None) -> None:
        if set(message) != {"id", "result"}:
            raise SchemaViolation(f"response with unexpected members: {message!r}")
        if method is None:
            return
        validator = self.response_validator(method)
        if validator is None:
            if method in self.client_methods:
                raise SchemaViolation(f"no response definition known for {method}")
            return  # not a reference method (e.g. a test-only one)
        _raise_first(validator, message["result"], f"response to {method}")


def _defs_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {"definitions": doc.get("definitions", {})}


def _raise_first(validator: Draft7Validator, instance: Any, what: str) -> None:
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "<root>"
        raise SchemaViolation(
            f"{what} does not match the reference schema at {path}: {error.message}\n"
            f"message: {json.dumps(instance)[:2000]}"
        )


@cache
def registry() -> SchemaRegistry:
    """The process-wide registry (schemas are loaded once)."""
    return SchemaRegistry()
