"""OAuth login to a streamable-HTTP MCP server (``mcpServer/oauth/login``), with the ``mcp`` SDK's
OAuth client (discovery, dynamic client registration, PKCE, token exchange).

:func:`start_login` opens a loopback listener on 127.0.0.1 for the redirect, starts the SDK's
flow against the server and returns as soon as the flow has an authorization URL for the user's
browser (:class:`OAuthLogin`); its ``done`` task finishes when the browser came back to the
listener and the code was exchanged (``None``) or the login failed (the reason). The tokens and
the registered client are kept in :class:`OAuthStore`, a JSON file (mode 0600) by server URL;
:meth:`OAuthStore.access_token` gives the connection its ``Authorization`` header afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from threadline.mcp.specs import McpServerSpec

# The SDK's OAuth client loads with the first login or token read, not with the store (every
# thread has one, most never use it).
if TYPE_CHECKING:
    from mcp.client.auth import TokenStorage
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken

__all__ = ["DONE_PAGE", "OAuthLogin", "OAuthLoginError", "OAuthStore", "start_login"]

DONE_PAGE = "Authentication complete. You may close this window."
DEFAULT_TIMEOUT_S = 300.0


class OAuthLoginError(Exception):
    """The login could not start (no authorization URL); the message says why."""


class OAuthStore:
    """Tokens and client registrations by server URL, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.path)

    def entry(self, url: str) -> dict[str, Any]:
        found = self._read().get(url)
        return found if isinstance(found, dict) else {}

    def update(self, url: str, **fields: Any) -> None:
        data = self._read()
        found = data.get(url)
        current: dict[str, Any] = found if isinstance(found, dict) else {}
        data[url] = {**current, **fields}
        self._write(data)

    def forget_tokens(self, url: str) -> None:
        data = self._read()
        if isinstance(data.get(url), dict):
            data[url].pop("tokens", None)
            self._write(data)

    def access_token(self, url: str) -> str | None:
        tokens = self.entry(url).get("tokens")
        token = tokens.get("access_token") if isinstance(tokens, dict) else None
        return token if isinstance(token, str) and token else None

    def storage(self, url: str) -> TokenStorage:
        return _Storage(self, url)


class _Storage:
    """The SDK's ``TokenStorage`` (a protocol) over one server's entry of the store."""

    def __init__(self, store: OAuthStore, url: str) -> None:
        self._store = store
        self._url = url

    async def get_tokens(self) -> OAuthToken | None:
        from mcp.shared.auth import OAuthToken

        raw = self._store.entry(self._url).get("tokens")
        return OAuthToken.model_validate(raw) if isinstance(raw, dict) else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._store.update(self._url, tokens=tokens.model_dump(mode="json", exclude_none=True))

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        from mcp.shared.auth import OAuthClientInformationFull

        raw = self._store.entry(self._url).get("client")
        return OAuthClientInformationFull.model_validate(raw) if isinstance(raw, dict) else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._store.update(self._url, client=client_info.model_dump(mode="json", exclude_none=True))


class _Callback:
    """The loopback listener the authorization server redirects the browser to."""

    def __init__(self) -> None:
        self.path = f"/callback/{secrets.token_urlsafe(9)}"
        self.result: asyncio.Future[AuthorizationCodeResult] = (
            asyncio.get_running_loop().create_future()
        )
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)).strip():
                pass  # the headers
            parts = line.decode("latin-1").split()
            target = urlsplit(parts[1]) if len(parts) >= 2 and parts[0] == "GET" else None
            if target is None or target.path != self.path:
                await _reply(writer, 404, "Not found.")
                return
            query = {k: v[0] for k, v in parse_qs(target.query).items()}
            if "error" in query:
                why = query.get("error_description") or query["error"]
                if not self.result.done():
                    self.result.set_exception(OAuthLoginError(f"authorization failed: {why}"))
                await _reply(writer, 400, f"Authentication failed: {why}")
                return
            if "code" not in query:
                await _reply(writer, 400, "Missing authorization code.")
                return
            if not self.result.done():
                from mcp.shared.auth import AuthorizationCodeResult

                self.result.set_result(
                    AuthorizationCodeResult(
                        code=query["code"], state=query.get("state"), iss=query.get("iss")
                    )
                )
            await _reply(writer, 200, DONE_PAGE)
        except (TimeoutError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


async def _reply(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    body = text.encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()


@dataclass
class OAuthLogin:
    login_id: str
    server: str
    authorization_url: str
    done: asyncio.Task[str | None]
    """``None`` once the tokens are stored; else why the login failed."""


_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "threadline", "version": "0"},
    },
}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    return str(exc) or type(exc).__name__


async def start_login(
    spec: McpServerSpec,
    store: OAuthStore,
    *,
    scopes: list[str] | None = None,
    timeout_s: float | None = None,
) -> OAuthLogin:
    """Start the login; raises :class:`OAuthLoginError` when no authorization URL comes."""
    import httpx2
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    if spec.url is None:
        raise OAuthLoginError("OAuth login is only supported for streamable HTTP servers.")
    url = spec.url
    callback = _Callback()
    await callback.start()
    loop = asyncio.get_running_loop()
    authorization: asyncio.Future[str] = loop.create_future()

    async def on_redirect(authorization_url: str) -> None:
        if not authorization.done():
            authorization.set_result(authorization_url)

    async def on_callback() -> AuthorizationCodeResult:
        return await callback.result

    metadata = OAuthClientMetadata(
        client_name="threadline",
        redirect_uris=[callback.redirect_uri],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        scope=" ".join(scopes) if scopes else None,
        token_endpoint_auth_method="none",
    )
    store.forget_tokens(url)  # a login always asks anew
    store.update(url, client=None)  # the redirect URI changes each time: register again
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=store.storage(url),
        redirect_handler=on_redirect,
        callback_handler=on_callback,
    )
    limit = timeout_s if timeout_s is not None and timeout_s > 0 else DEFAULT_TIMEOUT_S

    async def flow() -> str | None:
        try:
            async with httpx2.AsyncClient(auth=provider, timeout=30) as client:
                headers = {"Accept": "application/json, text/event-stream"}
                response = await asyncio.wait_for(
                    client.post(url, json=_INITIALIZE, headers=headers), limit
                )
            if store.access_token(url) is None:
                return f"no token was issued (the server answered HTTP {response.status_code})"
            return None
        except TimeoutError:
            return f"timed out after {limit:g}s waiting for the authorization"
        except Exception as exc:  # every failure is the login's answer
            return _reason(exc)
        finally:
            await callback.close()

    task = asyncio.create_task(flow(), name=f"mcp-oauth-{spec.name}")
    waiting: set[asyncio.Future[Any]] = {authorization, task}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if not authorization.done():
        why = task.result() if task.done() else "the login ended early"
        raise OAuthLoginError(why or "the server issued a token without asking the user")
    return OAuthLogin(
        login_id=str(uuid.uuid4()),
        server=spec.name,
        authorization_url=authorization.result(),
        done=task,
    )
