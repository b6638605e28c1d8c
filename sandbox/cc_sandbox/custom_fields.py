"""``/v3/contact_custom_fields``: create, list, get, replace and delete custom fields (at most 100).

A field's ``name`` is its label with spaces turned into underscores; imports name it as ``cf:<name>``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from cc_sandbox.body import json_body
from cc_sandbox.deps import api_router, get_state
from cc_sandbox.errors import CONFLICT, SandboxError
from cc_sandbox.models import CustomField, new_id, stamp
from cc_sandbox.paging import next_links, page_request, take_page
from cc_sandbox.store import SandboxState

router = api_router()

FIELD_TYPES = (
    "string",
    "date",
    "datetime",
    "single_select",
    "multi_select",
    "currency",
    "text_area",
    "number",
    "boolean",
)
SELECT_TYPES = ("single_select", "multi_select")
LABEL_MAX_LENGTH = 50


def field_to_json(cf: CustomField, style: str) -> dict[str, Any]:
    """Render a ``CustomField`` (``style``: ``timestamp_style``)."""
    body: dict[str, Any] = {"custom_field_id": cf.custom_field_id, "label": cf.label, "name": cf.name, "type": cf.type}
    if cf.metadata is not None:
        body["metadata"] = cf.metadata
    if cf.version is not None:
        body["version"] = cf.version
    if cf.choices:
        body["choices"] = [{"custom_field_id": cf.custom_field_id, **choice} for choice in cf.choices]
    # The spec's CustomField examples: updated_at with milliseconds and Z, created_at with -05:00.
    body["updated_at"] = stamp(cf.updated_at, style, "millis_z")
    body["created_at"] = stamp(cf.created_at, style, "offset")
    return body


def _label(state: SandboxState, body: Any, *, other_than: str | None = None) -> str:
    if not isinstance(body, dict):
        raise SandboxError.validation("The request body must be a JSON object.")
    label = body.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX_LENGTH:
        raise SandboxError.validation(f"label is required and must be 1 to {LABEL_MAX_LENGTH} characters.")
    name = label.strip().replace(" ", "_")
    if any(cf.name == name and cf.custom_field_id != other_than for cf in state.custom_fields.values()):
        raise SandboxError.api(409, CONFLICT, f"A custom field labelled '{label}' already exists.")
    return label.strip()


def _choices(body: dict[str, Any], field_type: str) -> list[dict[str, Any]]:
    raw = body.get("choices")
    if raw is None:
        return []
    if field_type not in SELECT_TYPES or not isinstance(raw, list) or len(raw) > 100:
        raise SandboxError.validation(
            "choices are allowed only for single_select and multi_select fields (at most 100)."
        )
    choices = []
    for number, choice in enumerate(raw, start=1):
        label = choice.get("choice_label") if isinstance(choice, dict) else None
        if not isinstance(label, str) or not label:
            raise SandboxError.validation("Each choice needs a choice_label.")
        choices.append(
            {"choice_id": number, "choice_label": label, "display_order": choice.get("display_order", number)}
        )
    return choices


@router.post("/contact_custom_fields", status_code=201)
async def create_field(request: Request) -> JSONResponse:
    """Create a custom field: a unique ``label`` and a ``type``; 409 for a label in use."""
    body = json_body(await request.body(), request.headers.get("content-type"))
    state = get_state(request)
    with state.lock:
        label = _label(state, body)
        field_type = body.get("type")
        if field_type not in FIELD_TYPES:
            raise SandboxError.validation(f"type does not have a valid value; use one of {', '.join(FIELD_TYPES)}.")
        if len(state.custom_fields) >= state.config.max_custom_fields:
            raise SandboxError.validation(
                f"The account already has the maximum of {state.config.max_custom_fields} custom fields."
            )
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise SandboxError.validation("metadata must be an object.")
        version = body.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise SandboxError.validation("version must be an integer.")
        now = state.clock()
        cf = CustomField(
            new_id(), state.next_seq(), label, label.replace(" ", "_"), field_type, now, now,
            _choices(body, field_type), metadata, version,
        )  # fmt: skip
        state.custom_fields[cf.custom_field_id] = cf
        return JSONResponse(field_to_json(cf, state.config.timestamp_style), status_code=201)


@router.get("/contact_custom_fields")
async def get_fields(request: Request) -> dict[str, Any]:
    """Return one page of custom fields (``limit`` 1 to 100, default 50) in creation order."""
    _, after, limit = page_request(request, "/v3/contact_custom_fields", lambda r: {}, default_limit=50, max_limit=100)
    state = get_state(request)
    with state.lock:
        page, next_after = take_page(list(state.custom_fields.values()), lambda cf: cf.seq, after, limit)
        body: dict[str, Any] = {"custom_fields": [field_to_json(cf, state.config.timestamp_style) for cf in page]}
    body.update(next_links("/v3/contact_custom_fields", {}, next_after, limit))
    return body


def _field(state: SandboxState, custom_field_id: str) -> CustomField:
    cf = state.custom_fields.get(custom_field_id)
    if cf is None:
        raise SandboxError.not_found("Resource not found for the custom_field_id provided.")
    return cf


@router.get("/contact_custom_fields/{custom_field_id}")
async def get_field(custom_field_id: str, request: Request) -> dict[str, Any]:
    """Return one custom field."""
    state = get_state(request)
    with state.lock:
        return field_to_json(_field(state, custom_field_id), state.config.timestamp_style)


@router.put("/contact_custom_fields/{custom_field_id}")
async def replace_field(custom_field_id: str, request: Request) -> dict[str, Any]:
    """Change a field's ``label`` and ``choices`` (omitted choices are removed); its name follows the label."""
    body = json_body(await request.body(), request.headers.get("content-type"))
    state = get_state(request)
    with state.lock:
        cf = _field(state, custom_field_id)
        cf.label = _label(state, body, other_than=custom_field_id)
        cf.name = cf.label.replace(" ", "_")
        cf.choices = _choices(body, cf.type)
        cf.updated_at = state.clock()
        return field_to_json(cf, state.config.timestamp_style)


@router.delete("/contact_custom_fields/{custom_field_id}", status_code=204)
async def delete_field(custom_field_id: str, request: Request) -> Response:
    """Delete a custom field and every contact's value of it."""
    state = get_state(request)
    with state.lock:
        _field(state, custom_field_id)
        del state.custom_fields[custom_field_id]
        for contact in state.contacts.values():
            contact.custom_fields.pop(custom_field_id, None)
    return Response(status_code=204)
