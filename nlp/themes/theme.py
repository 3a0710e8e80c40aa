"""A demand theme as reported in results, heatmaps and alerts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Theme:
    """A demand theme as reported: taxonomy themes have configured ids; discovered ones D01, D02..."""

    id: str
    label: str
    keywords: tuple[str, ...]
    department: str = ""
    discovered: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "keywords": list(self.keywords),
            "department": self.department,
            "discovered": self.discovered,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Theme:
        return cls(
            id=str(data["id"]),
            label=str(data["label"]),
            keywords=tuple(data.get("keywords", [])),
            department=str(data.get("department", "")),
            discovered=bool(data.get("discovered", False)),
        )
