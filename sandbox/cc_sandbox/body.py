"""Request-body checks shared by the JSON endpoints."""

from __future__ import annotations

import json
from typing import Any

from cc_sandbox.errors import UNSUPPORTED_MEDIA_TYPE, SandboxError


def require_json_content_type(content_type: str | None) -> None:
    """Answer 415 unless the request declares ``Content-Type: application/json``."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise SandboxError.api(
            415,
            UNSUPPORTED_MEDIA_TYPE,
            f"Unsupported media type '{media_type or 'none'}'. This endpoint requires Content-Type: application/json.",
        )


def json_body(raw: bytes, content_type: str | None) -> Any:
    """Check the content type and decode a JSON body, or answer 415 / 400."""
    require_json_content_type(content_type)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SandboxError.validation("The request body is not valid JSON.") from None
