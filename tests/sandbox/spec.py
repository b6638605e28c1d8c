"""Check sandbox responses against the official Swagger 2.0 spec (read at test time, never shipped).

``ResponseChecker.problems(response)`` names what is wrong with one response the sandbox sent: a status
the operation does not declare, or a body that does not match the operation's response schema. Bodies
are checked strictly: objects may not carry properties their schema does not declare. Error statuses
have no schema in the spec; their bodies are checked against the API's two error envelopes. A success
status without a schema must carry no body.

Known spec bugs and gaps are handled here and nowhere else (``EXTRA_STATUSES``, ``patch_definitions``).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cc_sandbox.middleware import ObservedResponse

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "cc_v3_swagger.yaml"

# -- the one place for known spec bugs -----------------------------------------------------------

#: Statuses the real API sends although an operation's ``responses`` leave them out: ``(method, path, status)``,
#: ``"*"`` matching any method or path.
EXTRA_STATUSES: dict[tuple[str, str, int], str] = {
    # The gateway throttles every operation (4 a second, 10,000 a day; S10), but the spec lists 429 only on
    # the bulk activity POSTs.
    ("*", "*", 429): "gateway rate limits apply to every operation",
    # A wrong Content-Type gives 415 on every JSON endpoint (S38); the spec lists it on a few only.
    ("POST", "*", 415): "415 for a non-JSON body on any JSON endpoint",
    ("PUT", "*", 415): "415 for a non-JSON body on any JSON endpoint",
    # Renaming a list to a name in use conflicts like POST does; the spec lists no 409 on PUT.
    ("PUT", "/contact_lists/{list_id}", 409): "list names stay unique on rename",
    # Fault injection may answer any operation with a gateway or service error.
    ("*", "*", 500): "internal error (fault injection)",
    ("*", "*", 502): "gateway error (fault injection)",
    ("*", "*", 503): "service unavailable (fault injection)",
    # Unknown activity, list or contact ids in bulk bodies are 400s; GET /activities lists 404 for old ids.
}


def patch_definitions(definitions: dict[str, Any]) -> dict[str, Any]:
    """Fix the spec's definitions where they contradict the documented behaviour."""
    definitions = copy.deepcopy(definitions)
    # ActivityImport.status omits items_completed_count, which the generic ActivityStatus (the body of
    # GET /activities/{id} for the same activity) declares; an import reports it from the start.
    status = definitions["ActivityImport"]["properties"]["status"]["properties"]
    status.setdefault("items_completed_count", {"type": "integer"})
    return definitions


# -- schemas of the parts the Swagger file does not cover (the OAuth server) ----------------------

TOKEN_RESPONSE = {  # the official TypeScript client's AccessTokenResponse (S34)
    "type": "object",
    "required": ["token_type", "expires_in", "access_token", "scope"],
    "additionalProperties": False,
    "properties": {
        "token_type": {"enum": ["Bearer"]},
        "expires_in": {"type": "integer"},
        "access_token": {"type": "string"},
        "scope": {"type": "string"},
        "refresh_token": {"type": "string"},
        "id_token": {"type": "string"},
    },
}
OAUTH_ERROR = {
    "type": "object",
    "required": ["error", "error_description"],
    "additionalProperties": False,
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
DEVICE_RESPONSE = {
    "type": "object",
    "required": ["device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval"],
    "additionalProperties": False,
    "properties": {
        "device_code": {"type": "string"},
        "user_code": {"type": "string"},
        "verification_uri": {"type": "string"},
        "verification_uri_complete": {"type": "string"},
        "expires_in": {"type": "integer"},
        "interval": {"type": "number"},
    },
}
ERROR_ITEM = {"type": "object", "required": ["error_key", "error_message"]}

_FORMATS = jsonschema.FormatChecker()
_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@_FORMATS.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return not isinstance(value, str) or bool(_ISO_Z.match(value))


@_FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


def _forbid_extra(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {key: _forbid_extra(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_forbid_extra(item) for item in schema]
    return schema


def load_spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return dict(yaml.load(SPEC.read_text(encoding="utf-8"), Loader=loader))


class ResponseChecker:
    """Validate observed responses against ``spec`` (strictly, with the known bugs patched)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.paths: dict[str, Any] = spec["paths"]
        self.base_path: str = spec.get("basePath", "/v3")
        self.definitions = _forbid_extra(patch_definitions(spec["definitions"]))

    def validate(self, schema: dict[str, Any], body: Any) -> list[str]:
        validator = jsonschema.Draft4Validator({**schema, "definitions": self.definitions}, format_checker=_FORMATS)
        errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
        return [f"{list(e.path)}: {e.message}" for e in errors]

    def check_definition(self, name: str, body: Any) -> list[str]:
        return self.validate({"$ref": f"#/definitions/{name}"}, body)

    def problems(self, r: ObservedResponse) -> list[str]:
        """Return what is wrong with ``r`` (empty when it conforms)."""
        if r.custom_fault:  # the test wrote this body itself
            return []
        where = f"{r.method} {r.path} -> {r.status}"
        return [f"{where}: {problem}" for problem in self._problems(r)]

    def _problems(self, r: ObservedResponse) -> list[str]:
        if r.route.startswith("/oauth2/") or r.route == "/activate":
            return self._oauth_problems(r)
        body = _decode(r)
        path = r.route[len(self.base_path) :] if r.route.startswith(self.base_path + "/") else None
        if path is None or path not in self.paths:  # no such endpoint: only an error envelope will do
            return self._error_problems(r.status, body) if r.status >= 400 else [f"unknown route {r.route}"]
        operation = self.paths.get(path, {}).get(r.method.lower())
        if operation is None:
            return [f"the spec has no operation {r.method} {path}"]
        responses = operation.get("responses", {})
        if str(r.status) not in responses and not _extra_status(r.method, path, r.status):
            return [f"status {r.status} is not among the operation's responses {sorted(responses)}"]
        schema = (responses.get(str(r.status)) or {}).get("schema")
        if r.status == 204:
            return [] if not r.body else ["a 204 carries a body"]
        if schema is not None:
            if r.headers.get("content-type", "").startswith("text/csv"):
                return self.validate(schema, r.body.decode("utf-8"))
            return self.validate(schema, body)
        return self._error_problems(r.status, body)

    def _error_problems(self, status: int, body: Any) -> list[str]:
        if status < 400:  # a success the spec gives no schema (PUT /contacts/resubscribe/{id}) carries no body
            return [] if body is None else [f"no schema for status {status}, yet a body"]
        if status in (401, 429):  # the gateway answers with a single object
            problems = self.check_definition("AuthorizationErrorSchema", body)
            return problems + self.validate(ERROR_ITEM, body)
        problems = self.check_definition("APIErrorSchema", body)
        if not problems and not body:
            problems = ["an error array must not be empty"]
        return problems + [
            p for item in (body if isinstance(body, list) else []) for p in self.validate(ERROR_ITEM, item)
        ]

    def _oauth_problems(self, r: ObservedResponse) -> list[str]:
        if r.route.endswith("/authorize") and r.method == "GET":
            if r.status == 302:
                return [] if r.headers.get("location") else ["a redirect without a Location"]
            return self.validate(OAUTH_ERROR, _decode(r))
        if r.route == "/activate":
            return [] if r.headers.get("content-type", "").startswith("text/plain") else ["not text/plain"]
        schema = {"/oauth2/default/v1/token": TOKEN_RESPONSE, "/oauth2/default/v1/device/authorize": DEVICE_RESPONSE}
        if r.route not in schema:
            return [f"unknown OAuth route {r.route}"]
        return self.validate(schema[r.route] if r.status == 200 else OAUTH_ERROR, _decode(r))


def _extra_status(method: str, path: str, status: int) -> bool:
    return any((m in ("*", method)) and (p in ("*", path)) and s == status for (m, p, s) in EXTRA_STATUSES)


def _decode(r: ObservedResponse) -> Any:
    if not r.body:
        return None
    try:
        return json.loads(r.body)
    except ValueError:
        return r.body.decode("utf-8", errors="replace")
