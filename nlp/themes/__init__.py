"""Demand themes (需求主题) as reported, and the catalogue that keeps discovered ones' ids stable.

Themes are found on aspects (nlp.aspects.themes.DemandModel): taxonomy themes by seed words and by
meaning, discovered demands from frequent aspect terms no taxonomy theme covers.
"""

from __future__ import annotations

from nlp.themes.catalog import ThemeCatalog
from nlp.themes.theme import Theme

__all__ = ["Theme", "ThemeCatalog"]
