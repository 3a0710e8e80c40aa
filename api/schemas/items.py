"""An item's encrypted identifiers, revealed to a role allowed to see them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RevealOut(BaseModel):
    batch_id: int
    item_id: str
    row: int = Field(description="The item's 0-based position in its batch")
    fields: dict[str, str] = Field(
        description="The kept identifiers by field name as uploaded (e.g. 联系电话 → 13812345678); "
        "empty when the item has none"
    )
