"""The demand taxonomy file (nlp.taxonomy); themes of aspects are tested in test_aspects.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.errors import ConfigError
from nlp.taxonomy import load_taxonomy


def test_default_taxonomy() -> None:
    taxonomy = load_taxonomy()
    ids = [t.id for t in taxonomy.themes]
    assert ids[:6] == ["logistics", "price", "quality", "service", "after_sales", "billing"]
    labels = {t.id: t.label for t in taxonomy.themes}
    assert labels["logistics"] == "物流配送" and labels["after_sales"] == "售后退换"
    assert all(t.seeds and t.department for t in taxonomy.themes)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        # One configuration mechanism (nlp.settings) names every key the same way: file: a.b.c = value.
        ('[themes.x]\nlabel = "物流"\ndepartment = "物流部"\n', "themes.toml: themes.x.seeds = None"),
        ('[themes.x]\nlabel = ""\ndepartment = "物流部"\nseeds = ["快递"]\n', "themes.toml: themes.x.label = ''"),
        ('[themes.x]\nlabel = "物流"\ndepartment = "物流部"\nseeds = ["快递"]\ncolour = 1\n', "themes.x.colour = 1"),
        ('[themes.x]\nlabel = "物流"\ndepartment = "物流部"\nseeds = ["快递", 3]\n', "themes.toml: themes.x.seeds = "),
        ("[themes]\n", "themes.toml: themes = {}"),
        ("themes = [", "not valid TOML"),
    ],
)
def test_bad_taxonomy_names_the_key(tmp_path: Path, body: str, key: str) -> None:
    path = tmp_path / "themes.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_taxonomy(path)
