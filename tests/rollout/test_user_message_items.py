"""``rollout.turn_items.user_message_to_wire``: a legacy ``user_message`` event's text,
images and local images become the ``userMessage`` item's content in that order, entries
that are not strings dropped; empty, null or missing lists add nothing."""

from __future__ import annotations

from typing import Any

import pytest

from threadline.rollout.turn_items import user_message_to_wire

TEXT = {"type": "text", "text": "hi", "text_elements": []}


@pytest.mark.parametrize(
    ("extra", "content"),
    [
        ({}, [TEXT]),
        ({"images": None, "local_images": []}, [TEXT]),
        ({"images": ["data:a", 3, "data:b"]},
         [TEXT, {"type": "image", "url": "data:a"}, {"type": "image", "url": "data:b"}]),
        ({"local_images": ["/p.png", None]}, [TEXT, {"type": "localImage", "path": "/p.png"}]),
        ({"images": ["u"], "local_images": ["/l"]},
         [TEXT, {"type": "image", "url": "u"}, {"type": "localImage", "path": "/l"}]),
    ],
)
def test_content_in_order(extra: dict[str, Any], content: list[dict[str, Any]]) -> None:
    item = user_message_to_wire({"message": "hi", "client_id": "c", **extra}, "item-1")
    assert item == {"type": "userMessage", "id": "item-1", "clientId": "c", "content": content}


def test_images_without_text() -> None:
    item = user_message_to_wire({"message": "", "images": ["u"]}, "item-2")
    assert item["content"] == [{"type": "image", "url": "u"}]
