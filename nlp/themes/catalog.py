"""The catalogue of discovered themes: what was found before, so ids stay stable across batches and runs.

Each fit of the theme model numbers its clusters D01, D02… afresh. The catalogue maps them onto the
themes found earlier by the keywords they share (a cluster described by 物流慢·快递慢 is the theme that
was 物流慢·等了很久 last week), keeping the earlier id and label; a cluster that matches nothing gets
the next free number. The CLI saves it beside its outputs, the service in its database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nlp.themes.theme import Theme


def keyword_overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """Shared keywords over the shorter list (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(set(a) & set(b)) / min(len(set(a)), len(set(b)))


@dataclass(frozen=True)
class ThemeCatalog:
    """Discovered themes known so far (taxonomy themes have configured ids and are not listed)."""

    themes: tuple[Theme, ...] = ()
    next_number: int = 1

    def assign(self, found: Sequence[Theme], min_overlap: float) -> tuple[dict[str, str], ThemeCatalog]:
        """Ids for the discovered themes of one fit: {fit id: catalogue id}, and the updated catalogue.

        Pairs are matched best first, each known theme at most once; a matched theme keeps its id and
        label and takes the new keywords.
        """
        fresh = [t for t in found if t.discovered]
        pairs = sorted(
            (
                (-keyword_overlap(new.keywords, old.keywords), i, j)
                for i, new in enumerate(fresh)
                for j, old in enumerate(self.themes)
            ),
        )
        renames: dict[str, str] = {}
        known = list(self.themes)
        claimed: set[int] = set()
        for negative, i, j in pairs:
            if -negative < min_overlap or fresh[i].id in renames or j in claimed:
                continue
            renames[fresh[i].id] = known[j].id
            known[j] = replace(known[j], keywords=fresh[i].keywords)
            claimed.add(j)
        number = self.next_number
        for theme in fresh:
            if theme.id not in renames:
                new_id = f"D{number:02d}"
                number += 1
                renames[theme.id] = new_id
                known.append(replace(theme, id=new_id))
        return renames, ThemeCatalog(tuple(known), number)

    def label(self, theme_id: str) -> str | None:
        return next((t.label for t in self.themes if t.id == theme_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"next_number": self.next_number, "themes": [t.to_dict() for t in self.themes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThemeCatalog:
        return cls(tuple(Theme.from_dict(t) for t in data.get("themes", [])), int(data.get("next_number", 1)))
