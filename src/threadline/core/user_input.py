"""What the model sees of a thread's setting and of a user's input.

:func:`context_items` gives the developer instructions and the environment context a
history opens with; :func:`user_content` turns one user message (text, image URLs,
local image files) into the model's content parts, reading local images off the loop.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from pathlib import Path

from threadline.core.settings import ThreadSettings
from threadline.protocol.items import ContentItem, MessageItem, ResponseItem
from threadline.protocol.v2.item import (
    ImageUserInput,
    LocalImageUserInput,
    TextUserInput,
    UserInput,
)

_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
_MAX_IMAGE_BYTES = 20 << 20


def context_items(s: ThreadSettings) -> list[ResponseItem]:
    """The developer instructions (when set) and the environment context."""
    now = datetime.now(UTC)
    env = (
        "<environment_context>\n"
        f"  <cwd>{s.cwd}</cwd>\n"
        f"  <approval_policy>{s.approval_policy}</approval_policy>\n"
        f"  <sandbox_mode>{s.sandbox_mode}</sandbox_mode>\n"
        "  <shell>bash</shell>\n"
        f"  <current_date>{now.date().isoformat()}</current_date>\n"
        "  <timezone>Etc/UTC</timezone>\n"
        "</environment_context>"
    )
    items: list[ResponseItem] = []
    if s.developer_instructions:
        items.append(
            MessageItem(
                role="developer",
                content=[ContentItem(type="input_text", text=s.developer_instructions)],
            )
        )
    items.append(MessageItem(role="user", content=[ContentItem(type="input_text", text=env)]))
    return items


async def user_content(
    items: list[UserInput], cwd: Path
) -> tuple[str, list[str], list[str], list[ContentItem]]:
    """``(text, image URLs, local image paths, content parts)`` of one user message; a
    local image that cannot be read becomes a text part saying so."""
    text = "\n".join(i.text for i in items if isinstance(i, TextUserInput))
    images = [i.url for i in items if isinstance(i, ImageUserInput) and i.url]
    local_images = [i.path for i in items if isinstance(i, LocalImageUserInput)]
    content = [
        ContentItem(type="input_text", text=i.text) for i in items if isinstance(i, TextUserInput)
    ]
    content += [ContentItem(type="input_image", image_url=url) for url in images]
    for local in local_images:
        url = await asyncio.to_thread(image_data_url, cwd / local)
        if url is not None:
            content.append(ContentItem(type="input_image", image_url=url))
        else:
            content.append(
                ContentItem(type="input_text", text=f"[image {local} could not be read]")
            )
    return text, images, local_images, content


def image_data_url(path: Path) -> str | None:
    """A local image as a ``data:`` URL for the model (None when unreadable or too big)."""
    mime = _IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    try:
        if path.stat().st_size > _MAX_IMAGE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


__all__ = ["context_items", "image_data_url", "user_content"]
