from __future__ import annotations

import csv
import random
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from nlp.config import ThemeConfig
from nlp.embed import E5Embedder, FloatArray
from nlp.errors import ConfigError, NotFittedError
from nlp.schema import Result, Sentiment
from nlp.taxonomy import Taxonomy, load_taxonomy
from nlp.themes import ThemeModel
from nlp.tokenize import Tokenizer

SHOPPING = Path(__file__).resolve().parents[3] / "shared" / "data" / "sentiment" / "online_shopping_10_cats.csv"
NEUTRAL = Sentiment("neutral", 0.0, 0.5, "test")


class CharacterEmbedder:
    """Bag of hashed characters: words sharing characters are close. Fast and deterministic."""

    def embed(self, texts: Sequence[str]) -> FloatArray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text:
                out[row, zlib.crc32(char.encode()) % 64] += 1.0
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        normalised: FloatArray = (out / norms).astype(np.float32)
        return normalised


def survey(text: str, id: str = "s") -> Result:
    return Result(id=id, kind="survey", text=text, sentiment=NEUTRAL)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


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


def test_unfitted_model_raises(tokenizer: Tokenizer) -> None:
    model = ThemeModel(load_taxonomy(), embedder=CharacterEmbedder(), tokenizer=tokenizer)
    with pytest.raises(NotFittedError):
        model.transform([survey("物流太慢")])
    with pytest.raises(NotFittedError):
        model.weights([survey("物流太慢")])


CORPUS = [
    ("物流太慢了，等了一个星期才到", "logistics"),
    ("快递员态度很好，送货上门", "logistics"),
    ("发票一直没开，开票太麻烦", "billing"),
    ("退款一直不到账，申请售后也没人管", "after_sales"),
    ("安装师傅上门很准时，安装很专业", "installation"),
    ("会员积分不能用，账号登录不上", "account"),
    ("价格太贵了，降价也不保价", "price"),
]


@pytest.mark.parametrize(("text", "theme"), CORPUS)
def test_taxonomy_seeds_name_the_theme(tokenizer: Tokenizer, text: str, theme: str) -> None:
    corpus = [survey(t, str(i)) for i, (t, _) in enumerate(CORPUS)] * 3
    model = ThemeModel(load_taxonomy(), ThemeConfig(min_df=2), CharacterEmbedder(), tokenizer).fit(corpus)
    [result] = model.transform([survey(text)])
    assert result.themes[0] == theme
    [weights] = model.weights([survey(text)])
    assert sum(weights.values()) == pytest.approx(1.0)
    assert result.keywords  # corpus-ranked keywords replace the pipeline's


def _shopping(rows: int, skip: int = 0) -> tuple[list[Result], list[str]]:
    with SHOPPING.open(encoding="utf-8-sig") as f:
        data = [r for r in csv.DictReader(f) if r["review"].strip()]
    random.Random(7).shuffle(data)
    chosen = data[skip : skip + rows]
    results = [survey(r["review"].lstrip("\ufeff"), f"r{skip + i}") for i, r in enumerate(chosen)]
    return results, [r["cat"] for r in chosen]


@pytest.fixture(scope="module")
def embedder() -> E5Embedder:
    return E5Embedder()


QUALITY = ThemeConfig()
# The target, with the category hidden and no taxonomy (discovered themes only).
MIN_NMI = 0.5


@pytest.mark.skipif(not SHOPPING.is_file(), reason="online_shopping_10_cats.csv is not available")
def test_themes_recover_product_categories_reproducibly_and_keep_ids(
    tokenizer: Tokenizer, embedder: E5Embedder
) -> None:
    from sklearn.metrics import normalized_mutual_info_score

    first, categories = _shopping(2000)
    model = ThemeModel(Taxonomy(), QUALITY, embedder, tokenizer)
    themed = model.fit_transform(first)
    top = [r.themes[0] if r.themes else "-" for r in themed]
    assert normalized_mutual_info_score(categories, top) >= MIN_NMI

    again = ThemeModel(Taxonomy(), QUALITY, embedder, tokenizer)
    assert [r.themes for r in again.fit_transform(first)] == [r.themes for r in themed]
    assert again.themes_ == model.themes_

    before = dict(model.term_theme_)
    ids = [t.id for t in model.themes_]
    second, _ = _shopping(500, skip=2000)
    model.partial_fit(second)
    assert [t.id for t in model.themes_][: len(ids)] == ids
    assert all(model.term_theme_[term] == theme for term, theme in before.items())


def test_a_batch_saying_one_thing_over_and_over_still_fits(tokenizer: Tokenizer) -> None:
    # Every open keyword embeds to the same point: no split into two discovered themes exists.
    corpus = [survey("物流太慢了", str(i)) for i in range(60)]
    model = ThemeModel(Taxonomy(), QUALITY, CharacterEmbedder(), tokenizer).fit(corpus)
    results = model.transform(corpus[:3])
    assert [r.themes for r in results] == [results[0].themes] * 3
