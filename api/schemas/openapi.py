"""The OpenAPI document completed where FastAPI's cannot say what the server does.

- Every route may answer with problem+json (the Problem schema): 400 for a body that does not
  parse (malformed JSON, bytes that are not UTF-8, a broken multipart form) or for two different
  API keys, 413 for a body over its limit (api.body_limit), 401 without a valid key.
- A form field cannot be null: a multipart or urlencoded body carries strings, and a field left out
  takes its default. FastAPI documents an optional field as "string or null", which invites a
  client to send the text "null"; the null alternative is dropped.
"""

from __future__ import annotations

from typing import Any

from api.errors import PROBLEM_JSON
from api.schemas.health import Problem

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
MALFORMED = "Bad request: a body that does not parse (not JSON, not UTF-8, a broken form), or two different API keys"
TOO_LARGE = "The request body is over its limit (KESHENG_MAX_BODY_BYTES, uploads KESHENG_MAX_UPLOAD_BYTES)"
UNAUTHORIZED = "Missing or invalid API key"
INVALID = "Invalid request or unreadable input (names file, row and field)"


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (FastAPI's document) with the Problem schema, the problems every route may answer
    with, and form fields that are never null; changed in place and returned."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema()
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            body = operation.get("requestBody")
            if body is not None or operation.get("security"):
                _add(responses, 400, MALFORMED)
            if operation.get("security"):
                _add(responses, 401, UNAUTHORIZED)
            if body is None:
                continue
            _add(responses, 413, TOO_LARGE)
            _add(responses, 422, INVALID)
            for media, content in body.get("content", {}).items():
                if media in FORM_TYPES:
                    _never_null(content.get("schema", {}), components)
    return schema


def _add(responses: dict[str, Any], status: int, description: str) -> None:
    responses.setdefault(str(status), {"description": description, "content": _PROBLEM})


def _never_null(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Drop the null alternative of each field of a form body (a component, or inline)."""
    ref = schema.get("$ref", "")
    target = components.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/components/schemas/") else schema
    for field in (target or {}).get("properties", {}).values():
        options = field.get("anyOf")
        if not isinstance(options, list) or {"type": "null"} not in options:
            continue
        kept = [option for option in options if option != {"type": "null"}]
        del field["anyOf"]
        if len(kept) == 1:
            field.update(kept[0])
        else:
            field["anyOf"] = kept
