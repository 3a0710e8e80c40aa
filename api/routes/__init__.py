"""One router per resource."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, UploadFile

from api.errors import PROBLEM_JSON, TooLargeError

# A stored row's id in a path: bounded, so that a huge number is a 422, not a database overflow.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="row id")]

_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problem+json errors a route can answer with."""
    descriptions = {
        400: "Bad request",
        401: "Missing or invalid API key",
        403: "The key's role does not allow this",
        404: "Not found",
        409: "Not allowed in the current state",
        413: "Upload too large",
        422: "Invalid request or unreadable input (names file, row and field)",
        503: "Not ready",
    }
    return {status: {"description": descriptions[status], **_PROBLEM} for status in statuses}


READ_CHUNK = 1 << 20


async def read_limited(upload: UploadFile, limit: int) -> bytes:
    """The whole upload, read in chunks; TooLargeError (413) as soon as it passes `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    while chunk := await upload.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"{upload.filename}: larger than {limit} bytes (KESHENG_MAX_UPLOAD_BYTES)")
        parts.append(chunk)
    return b"".join(parts)
