"""The opinion-unit polarity reader (nlp.aspects.polarity) and the character check of the demand
model's meaning step (nlp.aspects.themes)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from nlp.aspects.extract import AspectExtractor
from nlp.aspects.polarity import FEATURES, UnitPolarity, opinion_polarity, unit_features
from nlp.aspects.themes import DemandModel
from nlp.aspects.units import sentence_span
from nlp.config import AspectConfig, ThemeConfig
from nlp.embed import E5Embedder
from nlp.errors import ConfigError
from nlp.pipeline import Pipeline
from nlp.schema import Aspect, Item, Result, Sentiment
from nlp.sentiment.lexicon import Lexicon
from nlp.taxonomy import load_taxonomy

RESTAURANT = Path(__file__).resolve().parents[2] / "data" / "examples" / "restaurant_aspects.toml"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def extractor(lexicon: Lexicon) -> AspectExtractor:
    from nlp.tokenize import Tokenizer

    return AspectExtractor(Tokenizer(), lexicon)


@pytest.mark.parametrize(
    ("opinion", "sign"),
    [("贵", -1), ("不贵", 1), ("慢", -1), ("不慢", 1), ("新鲜", 1), ("不新鲜", -1), ("不错", 1), ("", 0), ("圆", 0)],
)
def test_the_lexicon_weight_of_an_opinion_turns_with_its_negator(lexicon: Lexicon, opinion: str, sign: int) -> None:
    value = opinion_polarity(opinion, lexicon.polarity)
    assert (value > 0) - (value < 0) == sign
    assert abs(value) <= 1.5


def test_unit_features_need_three_way_readings(lexicon: Lexicon) -> None:
    three = Sentiment("negative", -0.5, 0.6, "m", {"negative": 0.6, "neutral": 0.2, "positive": 0.2})
    binary = Sentiment("negative", -0.5, 0.6, "m")
    assert len(unit_features(three, three, "价格不贵", "价格", "不贵", lexicon.polarity)) == len(FEATURES)
    with pytest.raises(ValueError, match="three-way"):
        unit_features(binary, three, "价格不贵", "价格", "不贵", lexicon.polarity)


def test_the_bundled_reader_is_fitted_on_the_default_model(model_pipeline: Pipeline) -> None:
    reader = UnitPolarity.load()
    assert reader.model_version == model_pipeline.scorer.version
    assert model_pipeline.unit_polarity == reader
    # The file records what it was fitted on and its held-out figures, next to the mix it replaces.
    figures = reader.meta["figures"]
    assert figures["restaurant_test_macro_f1"] > figures["restaurant_test_macro_f1_mixed"]
    probabilities = reader.probabilities([0.0] * len(FEATURES))
    assert len(probabilities) == 3 and abs(sum(probabilities) - 1.0) < 1e-9


def test_a_reader_for_other_features_is_refused_naming_its_file(tmp_path: Path) -> None:
    raw = UnitPolarity.load().to_dict()
    path = tmp_path / "polarity.json"
    path.write_text(json.dumps({**raw, "features": raw["features"][:-1]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"polarity\.json"):
        UnitPolarity.load(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"polarity\.json"):
        UnitPolarity.load(path)


@pytest.mark.parametrize(
    ("text", "term", "labels"),
    [
        # The model alone reads 有点贵 as praise and 不慢 as a complaint; the lexicon knows both words.
        ("味道很好，就是价格有点贵", "价格", {"negative"}),
        ("上菜速度不慢，味道也不错", "上菜速度", {"neutral", "positive"}),
        # ... and complaints it has no word for stay complaints.
        ("物流太慢了，客服也不理人", "客服", {"negative"}),
        ("服务员态度很差，菜还行", "服务员态度", {"negative"}),
    ],
)
def test_units_are_read_with_their_opinion_words(
    model_pipeline: Pipeline, text: str, term: str, labels: set[str]
) -> None:
    [result] = list(model_pipeline.pipe([Item("u", "survey", text)]))
    [aspect] = [a for a in result.aspects if a.term == term]
    assert aspect.label in labels, result.aspects


def test_without_the_reader_units_take_the_plain_mix(model_pipeline: Pipeline) -> None:
    plain = Pipeline(
        redactor=model_pipeline.redactor,
        tokenizer=model_pipeline.tokenizer,
        scorer=model_pipeline.scorer,
        explainer=model_pipeline.explainer,
        config=replace(model_pipeline.config, aspects=AspectConfig(fitted_polarity=False)),
        aspects=model_pipeline.aspects,
    )
    text = "味道很好，就是价格有点贵"
    [fitted] = list(model_pipeline.pipe([Item("u", "survey", text)]))
    [mixed] = list(plain.pipe([Item("u", "survey", text)]))
    assert [a.text for a in fitted.aspects] == [a.text for a in mixed.aspects]
    # The emotion of a unit is the mix's in both; the polarity of 价格有点贵 is not.
    assert fitted.aspects[1].sentiment.emotion == mixed.aspects[1].sentiment.emotion
    assert fitted.aspects[1].sentiment.probabilities != mixed.aspects[1].sentiment.probabilities


def test_a_one_clause_answer_keeps_its_own_reading(model_pipeline: Pipeline) -> None:
    # The reader is fitted on clauses of longer sentences; a unit that is all of its answer (or of a
    # customer turn) has nothing to be read against, and the answer's three-way reading stands.
    [result] = list(model_pipeline.pipe([Item("u", "survey", "我的快递到哪里了？")]))
    [aspect] = result.aspects
    assert aspect.sentiment.probabilities == result.sentiment.probabilities


def test_a_unit_is_read_against_its_own_sentence_in_a_long_review(model_pipeline: Pipeline) -> None:
    # The reader learnt on single sentences: in a review of praise, the queue's sentence is a complaint.
    text = "这家店的烤鱼非常入味，分量也足，价格实惠。排队排了一个小时，太久了。服务员很热情。"
    [result] = list(model_pipeline.pipe([Item("r", "survey", text)]))
    by_term = {a.term: a for a in result.aspects}
    assert by_term["排队"].label == "negative", result.aspects
    assert by_term["烤鱼"].label == by_term["服务员"].label == "positive"


def test_sentences_and_where_they_end() -> None:
    text = "菜很好吃，环境也很好。就是服务员态度很差！\n总体还不错"

    def sentence_of(position: int) -> str:
        begin, end = sentence_span(text, position)
        return text[begin:end]

    assert sentence_of(0) == sentence_of(5) == "菜很好吃，环境也很好"
    assert sentence_of(text.index("服务员")) == "就是服务员态度很差"
    assert sentence_of(len(text) - 1) == "总体还不错"
    # 。 and ！ with a line break end sentences; ， does not.
    assert sentence_span(text, 0) == sentence_span(text, text.index("环境"))
    assert sentence_span(text, 0) != sentence_span(text, text.index("就是"))


def test_a_named_thing_is_not_merged_with_a_judgement_across_a_sentence_end(extractor: AspectExtractor) -> None:
    [(merged, reading)] = extractor.units("这家店的服务，真的很差")
    assert merged.text == "这家店的服务，真的很差" and reading.term == "服务"
    assert [u.text for u, _ in extractor.units("这家店的服务。真的很差")] == ["这家店的服务", "真的很差"]


def test_readings_of_another_scorer_are_not_read_by_the_coefficients() -> None:
    reader = UnitPolarity.load()
    ours = Sentiment("negative", -0.5, 0.6, reader.model_version, {"negative": 0.6, "neutral": 0.2, "positive": 0.2})
    assert reader.fits(ours)
    assert not reader.fits(replace(ours, model_version="retrained-1"))
    assert not reader.fits(Sentiment("negative", -0.5, 0.6, reader.model_version))  # binary: no probabilities


def _named(i: int, term: str, opinion: str) -> Result:
    text = f"{term}很{opinion}"
    sentiment = Sentiment("positive", 0.5, 0.2, "test")
    aspect = Aspect(text, 0, len(text), term, opinion, sentiment)
    return Result(f"n{i}", "survey", text, sentiment, aspects=(aspect,))


def test_terms_near_a_seed_only_by_a_shared_character_join_no_theme_by_it(embedder: E5Embedder) -> None:
    """multilingual-e5-small rates 菜品 · 菜量 0.947 and 小笼包 · 包间 0.912, above the seed similarity;
    the demand model does not take shared characters for meaning (菜 is in seeds of 上菜速度 and 分量;
    包 ends 小笼包 and starts 包间), but still joins 装饰 to 装修 and 服务生 to 服务员."""
    terms = {
        "菜品": "丰富",
        "蔬菜": "新鲜",
        "凉菜": "爽口",
        "小笼包": "鲜美",
        "晚餐": "丰盛",
        "装饰": "别致",
        "服务生": "周到",
    }
    results = [_named(100 * k + i, term, opinion) for k, (term, opinion) in enumerate(terms.items()) for i in range(4)]
    taxonomy = load_taxonomy(RESTAURANT)
    model = DemandModel(taxonomy, ThemeConfig(min_df=2, min_theme_items=50), embedder).fit(results)
    assert model.term_theme_["装饰"] == "decoration"
    assert model.term_theme_["服务生"] == "staff"
    ids = {t.id for t in taxonomy.themes}
    for term in ("菜品", "蔬菜", "凉菜", "小笼包", "晚餐"):
        assert model.term_theme_.get(term) not in ids, term
