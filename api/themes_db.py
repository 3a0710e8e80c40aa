"""The service's catalogue of discovered themes, kept with its data: the themes of its completed batches.

Every completed batch stores its themes under their catalogue ids, so the catalogue is the newest
version of each discovered theme over all batches, and the next free number follows the highest one.
Naming a batch's themes reads it and writes the batch in one transaction under THEMES_LOCK, so two
workers finishing at once never hand out one id twice.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import serialize
from api.tables import Batch
from nlp.themes import Theme, ThemeCatalog

THEMES_LOCK = "themes"
_NUMBERED = re.compile(r"^D(\d+)$")


def load_catalog(session: Session) -> ThemeCatalog:
    """The catalogue as of the completed batches (call inside the transaction that stores the next)."""
    serialize(session, THEMES_LOCK)
    newest: dict[str, Theme] = {}
    rows = session.execute(select(Batch.themes).where(Batch.status == "done").order_by(Batch.id))
    for (themes,) in rows:
        for data in themes or []:
            if data.get("discovered"):
                newest[data["id"]] = Theme.from_dict(data)
    numbers = [int(m.group(1)) for t in newest if (m := _NUMBERED.match(t))]
    return ThemeCatalog(tuple(newest.values()), max(numbers, default=0) + 1)
