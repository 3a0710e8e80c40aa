"""The identifiers a stored item keeps for call-backs (a phone, the business's customer id): held only
encrypted (api.protected), shown only to the roles in Settings.reveal_roles, each reveal in the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.audit import record
from api.crypto import keyring
from api.deps import ServiceKey, ServicesDep, SessionDep
from api.errors import ForbiddenError
from api.labels_db import find_item
from api.protected import unseal
from api.routes import problems
from api.schemas.items import RevealOut

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.post(
    "/{batch_id}/items/{item_id}/reveal", response_model=RevealOut, responses=problems(401, 403, 404, 409, 422)
)
def reveal(
    batch_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    item_id: Annotated[str, Path(min_length=1, max_length=255)],
    session: SessionDep,
    services: ServicesDep,
    key: ServiceKey,
    row: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="The row, when the id is not unique")] = None,
) -> dict[str, Any]:
    """The item's kept identifiers in the clear (redacted everywhere else), for a key whose role is in
    the service's reveal_roles (admin by default). Every reveal is written to the audit log."""
    allowed = services.settings.reveal_roles
    if key.role not in allowed:
        raise ForbiddenError(
            f"revealing personal data needs a key with the role {' or '.join(allowed)}; this key is {key.role}"
        )
    with session.begin():
        item = find_item(session, batch_id, item_id, row)
        fields = unseal(keyring(services.settings), item.batch_id, item.row_index, item.protected)
        record(session, key.key_id, "field.reveal", f"item:{batch_id}:{item.row_index}", {"fields": len(fields)})
    return {"batch_id": batch_id, "item_id": item.item_id, "row": item.row_index, "fields": fields}
