"""``view_image``: the model looks at a local image file.

The image goes back to the model as the call's output, one ``input_image`` part holding
a ``data:`` URL (Codex 0.169 answers the same way: ``function_call_output.output`` is a
list of content items), and the thread shows an ``imageView`` item (``item/started`` and
``item/completed`` back to back, only when the image could be read). Errors are told to
the model in Codex's words: a missing file, a path that is not a file, bytes that are
not a PNG, JPEG, GIF or WebP image.

Codex scales an image down to fit 2048 pixels before sending it (except for the models
whose catalog allows ``detail: "original"``); threadline has no image library and sends
the file's bytes as they are, so a very large image costs the model what it costs.
Files above :data:`MAX_IMAGE_BYTES` are refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from threadline.protocol import events as ev
from threadline.protocol.clock import now_ms
from threadline.protocol.items import ContentItem
from threadline.protocol.v2.item import ImageViewThreadItem
from threadline.tools.registry import ToolContext, ToolOutput

__all__ = [
    "MAX_IMAGE_BYTES",
    "ORIGINAL_DETAIL_MODELS",
    "UNSUPPORTED_MESSAGE",
    "ViewImageTool",
    "sniff_image_mime",
]

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""The largest file sent (threadline's own bound; Codex resizes instead)."""

UNSUPPORTED_MESSAGE = "view_image is not allowed because you do not support image inputs"

ORIGINAL_DETAIL_MODELS = frozenset(
    {
        "gpt-5.5",
        "gpt-5.6-luna",
        "gpt-5.6-sol",
        "gpt-5.6-terra",
        "gpt-6-astra",
        "gpt-6-luna",
        "gpt-6-sol",
        "gpt-6.1-sol",
        "gpt-6.1-terra",
        "gpt-daybreak-blue-latest",
        "gpt-daybreak-red-latest",
        "codex-auto-review",
    }
)
"""The slugs whose Codex 0.169 catalog entry says ``supports_image_detail_original``:
their images are sent with ``detail: "original"``, every other model's with ``"high"``."""


def sniff_image_mime(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG, GIF and WebP bytes, from their signature."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class _Refused(Exception):
    """A message for the model instead of an image."""


class ViewImageTool:
    """Reads an image under the turn's cwd (or an absolute path) for the model."""

    name = "view_image"

    def __init__(self, *, supports_images: bool = True, original_detail: bool = False) -> None:
        self.supports_images = supports_images
        self.original_detail = original_detail

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": (
                "View a local image file from the filesystem when visual inspection is "
                "needed. Use this for images already available on disk."
            ),
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {
                        "type": "string",
                        "description": "Local filesystem path to an image file.",
                    }
                },
                "required": ["path"],
                "additionalProperties": False,
            },
        }

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        if not self.supports_images:
            return ToolOutput(UNSUPPORTED_MESSAGE, success=False)
        try:
            path, detail = self._parse(arguments)
            target = Path(ctx.cwd) / path
            data = await asyncio.to_thread(_read_image, target)
        except _Refused as exc:
            return ToolOutput(str(exc), success=False)
        mime = sniff_image_mime(data)
        if mime is None:
            return ToolOutput("unable to process image: invalid or unsupported image data", False)
        url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        await self._show(ctx, str(target))
        return ToolOutput(
            text=f"[image {target}]",
            content=[ContentItem(type="input_image", image_url=url, detail=detail)],
        )

    def _parse(self, arguments: str) -> tuple[str, str]:
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise _Refused(f"failed to parse function arguments: {exc}") from exc
        path = args.get("path") if isinstance(args, dict) else None
        if not isinstance(path, str) or not path:
            raise _Refused("failed to parse function arguments: missing field `path`")
        wanted = args.get("detail")
        if wanted is not None and wanted != "original":
            raise _Refused(
                "view_image.detail only supports `original`; omit `detail` for default "
                f"resized behavior, got `{wanted}`"
            )
        return path, "original" if self.original_detail else "high"

    async def _show(self, ctx: ToolContext, path: str) -> None:
        """The ``imageView`` item: started and completed at once, as Codex sends it."""
        started = now_ms()
        item = ImageViewThreadItem(id=ctx.call_id, path=path, started_at_ms=started)
        await _emit(ctx, ev.ItemStarted(turn_id=ctx.turn_id, item=item, started_at_ms=started))
        done = item.model_copy(update={"completed_at_ms": now_ms()})
        if ctx.complete_item is not None:
            await ctx.complete_item(done)
        else:
            await _emit(
                ctx,
                ev.ItemCompleted(
                    turn_id=ctx.turn_id, item=done, completed_at_ms=done.completed_at_ms
                ),
            )


def _read_image(path: Path) -> bytes:
    try:
        info = path.stat()
    except OSError as exc:
        raise _Refused(f"unable to locate image at `{path}`: {_os_error(exc)}") from exc
    if not path.is_file():
        raise _Refused(f"image path `{path}` is not a file")
    if info.st_size > MAX_IMAGE_BYTES:
        raise _Refused(
            f"unable to process image at `{path}`: the file is {info.st_size} bytes, "
            f"more than the {MAX_IMAGE_BYTES} bytes threadline sends"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Refused(f"unable to read image at `{path}`: {_os_error(exc)}") from exc


def _os_error(exc: OSError) -> str:
    """An OS error as Rust's ``io::Error`` prints it: ``No such file or directory (os error 2)``."""
    if exc.errno is None:
        return str(exc)
    return f"{exc.strerror} (os error {exc.errno})"


async def _emit(ctx: ToolContext, msg: ev.EventMsg) -> None:
    if ctx.emit is not None:
        await ctx.emit(msg)
