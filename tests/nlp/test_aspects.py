"""Opinion units, aspect terms and opinions, and the demand themes of aspects (nlp.aspects)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nlp.aspects.extract import AspectExtractor
from nlp.aspects.themes import DemandModel
from nlp.aspects.units import split_units
from nlp.config import PipelineConfig, RedactionConfig, ThemeConfig
from nlp.embed import E5Embedder
from nlp.normalize import normalize
from nlp.pipeline import Pipeline, build_pipeline
from nlp.schema import Aspect, Item, Result, Sentiment, result_from_dict
from nlp.sentiment.lexicon import Lexicon
from nlp.taxonomy import Taxonomy, TaxonomyTheme, load_taxonomy
from nlp.themes import ThemeCatalog
from nlp.tokenize import Tokenizer
from training.absa import ABSA, read_restaurant


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


@pytest.fixture(scope="module")
def extractor(tokenizer: Tokenizer) -> AspectExtractor:
    return AspectExtractor(tokenizer, Lexicon.load(), seeds=["再来"])


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(PipelineConfig(redaction=RedactionConfig(person_names=False)))


def test_units_cut_at_punctuation_and_contrast_with_their_spans() -> None:
    text = "味道不错但是排队太久，服务员态度差！环境、卫生都很好"
    units = split_units(text)
    assert [u.text for u in units] == ["味道不错", "但是排队太久", "服务员态度差", "环境、卫生都很好"]
    assert all(text[u.start : u.end] == u.text for u in units)
    # 但愿 is a wish, not a contrast; punctuation alone is no unit.
    assert [u.text for u in split_units("菜很好吃但愿下次也一样。。。")] == ["菜很好吃但愿下次也一样"]


@pytest.mark.parametrize(
    ("text", "term", "opinion"),
    [
        ("物流太慢了", "物流", "慢"),
        ("分量很少", "分量", "少"),
        ("服务员态度差", "服务员", "态度差"),
        ("上菜速度太慢", "上菜速度", "慢"),
        ("菜不新鲜", "菜", "不新鲜"),
        ("快递太慢了", "快递", "慢"),  # jieba calls 快递 a verb; data/aspects/words.txt knows better
        ("孩子很喜欢", "", "喜欢"),  # people are never a term
        ("下次还会再来", "再来", ""),  # a seed word is the term of a unit without a noun
    ],
)
def test_term_and_opinion(extractor: AspectExtractor, text: str, term: str, opinion: str) -> None:
    reading = extractor.read(text)
    assert (reading.term, reading.opinion) == (term, opinion)


def test_units_merge_naming_with_judging_and_drop_filler(extractor: AspectExtractor) -> None:
    [(unit, reading)] = extractor.units("这家店的服务，真的很差")
    assert (unit.text, reading.term, reading.opinion) == ("这家店的服务，真的很差", "服务", "差")
    assert extractor.units("好的") == []
    [(_, both)] = extractor.units("菜品和服务都很好")
    assert both.terms == ("菜品", "服务") and both.opinion == "好"
    # Two seed words side by side are two things, not one compound term.
    seeded = AspectExtractor(extractor.tokenizer, extractor.lexicon, seeds=["环境", "服务", "上菜"])
    [(_, two)] = seeded.units("环境服务都不错")
    assert two.terms == ("环境", "服务")
    [(_, one)] = seeded.units("上菜速度太慢")
    assert one.terms == ("上菜速度",)


def test_pipeline_reads_each_unit_on_its_own(pipeline: Pipeline) -> None:
    text = "味道很好，但是送餐太慢了，等了一个小时"
    [result] = list(pipeline.pipe([Item("r1", "survey", text)]))
    by_term = {a.term: a for a in result.aspects}
    assert by_term["味道"].label == "positive" and by_term["送餐"].label == "negative"
    assert by_term["送餐"].opinion == "慢"
    assert all(text[a.start : a.end] == a.text for a in result.aspects)
    # The aspects travel in results.jsonl and come back.
    back = result_from_dict(result.to_dict()).aspects
    assert [a.to_dict() for a in back] == [a.to_dict() for a in result.aspects]
    assert result.to_dict()["aspects"][1]["text"] == "但是送餐太慢了"


def test_customer_turns_only_and_redacted_units(pipeline: Pipeline) -> None:
    from nlp.schema import Turn

    call = Item(
        "c1",
        "transcript",
        "",
        turns=(
            Turn("agent", "您好，这里是客服中心，服务态度有问题您直接说"),
            Turn("customer", "快递太慢了，打13812345678也没人接"),
        ),
    )
    [result] = list(pipeline.pipe([call]))
    assert {a.turn for a in result.aspects} == {1}
    assert all("13812345678" not in a.text for a in result.aspects)
    assert any(a.term == "快递" and a.label == "negative" for a in result.aspects)


def _answer(i: int, *units: tuple[str, str, str, str]) -> Result:
    """An item whose aspects are (text, term, opinion, label)."""
    probability = {"negative": 0.9, "neutral": 0.5, "positive": 0.1}
    aspects = tuple(
        Aspect(text, 0, len(text), term, opinion, Sentiment(label, 0.0, probability[label], "test"))  # type: ignore[arg-type]
        for text, term, opinion, label in units
    )
    return Result(
        f"a{i}", "survey", "，".join(u[0] for u in units), Sentiment("neutral", 0.0, 0.5, "test"), aspects=aspects
    )


CORPUS = (
    [_answer(i, ("送餐太慢了", "送餐", "慢", "negative"), ("味道太咸", "味道", "咸", "negative")) for i in range(12)]
    + [_answer(100 + i, ("电池不耐用", "电池", "不耐用", "negative")) for i in range(12)]
    + [_answer(200 + i, ("电池续航短", "电池续航", "短", "negative")) for i in range(4)]
    + [_answer(300 + i, ("手机很好", "手机", "好", "positive")) for i in range(15)]
    + [_answer(400 + i, ("价钱太贵", "价钱", "贵", "negative")) for i in range(12)]
)


def test_demands_by_seed_by_meaning_and_discovered(embedder: E5Embedder) -> None:
    model = DemandModel(load_taxonomy(), ThemeConfig(min_df=2, min_theme_items=5), embedder).fit(CORPUS)
    themed = model.transform(CORPUS)
    first = {a.term: a.theme for r in themed for a in r.aspects}
    assert first["送餐"] == "logistics"  # by meaning: 送餐 is no seed word, 送货 is
    assert first["价钱"] == "price"
    discovered = {t.id: t for t in model.themes_ if t.discovered}
    # Products and generic praise are no demand; a term meaning a taxonomy theme forms none either.
    assert first["手机"] is None
    assert all("送餐" not in t.keywords and "价钱" not in t.keywords for t in discovered.values())
    battery = discovered[str(first["电池"])]
    assert battery.label == "电池·不耐用"
    # A review of two things has both themes, the item's themes are its aspects'.
    assert themed[0].themes == ("logistics", str(first["味道"])) and themed[0].theme_weights["logistics"] == 0.5


def test_a_term_customers_only_name_is_no_demand(embedder: E5Embedder) -> None:
    # 订单号 is named in 20 answers but judged in 2: a topic of the conversation, not a demand.
    named = [_answer(600 + i, ("订单号是多少", "订单号", "", "neutral")) for i in range(18)]
    named += [_answer(620 + i, ("订单号很乱", "订单号", "乱", "negative")) for i in range(2)]
    model = DemandModel(load_taxonomy(), ThemeConfig(min_df=2, min_theme_items=5), embedder).fit(CORPUS + named)
    assert model.term_theme_.get("订单号") is None
    assert "电池·不耐用" in {t.label for t in model.themes_ if t.discovered}


def test_an_exports_own_placeholders_are_no_aspect_term(pipeline: Pipeline) -> None:
    [result] = list(pipeline.pipe([Item("p1", "survey", "[数字]元是返到哪里呢，[链接]打不开，物流太慢了")]))
    terms = {a.term for a in result.aspects}
    assert "数字" not in terms and "链接" not in terms and "物流" in terms
    assert "数字" not in result.keywords and "链接" not in result.keywords


def test_discovered_ids_stay_stable_across_batches(embedder: E5Embedder) -> None:
    config = ThemeConfig(min_df=2, min_theme_items=5)
    first = DemandModel(load_taxonomy(), config, embedder).fit(CORPUS)
    renames, catalog = ThemeCatalog().assign(first.themes_, 0.5)
    # A later batch mentions a new demand before the battery: the battery keeps its id.
    later = [_answer(500 + i, ("座椅太硬", "座椅", "硬", "negative")) for i in range(30)] + list(CORPUS)
    second = DemandModel(load_taxonomy(), config, embedder).fit(later)
    again, catalog = catalog.assign(second.themes_, 0.5)
    battery_first = renames[str(first.term_theme_["电池"])]
    assert again[str(second.term_theme_["电池"])] == battery_first
    assert again[str(second.term_theme_["座椅"])] not in renames.values()


def test_a_user_taxonomy_of_another_domain(embedder: E5Embedder) -> None:
    taxonomy = Taxonomy(
        (
            TaxonomyTheme("waiting", "排队等位", "门店运营部", ("排队", "等位", "上菜")),
            TaxonomyTheme("taste", "菜品口味", "厨务部", ("口味", "味道", "好吃")),
        )
    )
    results = [
        _answer(i, ("上菜速度太慢", "上菜速度", "慢", "negative"), ("很好吃", "", "好吃", "positive")) for i in range(3)
    ]
    model = DemandModel(taxonomy, ThemeConfig(min_df=2), embedder).fit(results)
    [result] = model.transform(results[:1])
    assert [a.theme for a in result.aspects] == ["waiting", "taste"]  # seed in the term, seed in the unit
    assert replace(result, aspects=()).themes == ("waiting", "taste")


@pytest.mark.skipif(not (ABSA / "chinese_zhang_dev.csv").is_file(), reason="../shared/data/absa is not available")
def test_labelled_aspect_terms_are_found(pipeline: Pipeline) -> None:
    """On the labelled restaurant sentences (bench/absa.py has the full figures), the units hold
    nearly every annotated aspect term and the extracted terms find most of them."""
    data = read_restaurant(ABSA, ["dev"], limit=300)
    results = list(pipeline.pipe(Item(f"s{i}", "survey", text) for i, (text, _) in enumerate(data)))
    gold = found_unit = found_term = 0
    for (_, triplets), result in zip(data, results, strict=True):
        for aspect, _opinion, _polarity in triplets:
            if aspect == "NULL":
                continue
            gold += 1
            found_unit += any(aspect in normalize(a.text) for a in result.aspects)
            found_term += any(a.term and (a.term in aspect or aspect in a.term) for a in result.aspects)
    assert gold > 400
    assert found_unit / gold >= 0.9  # measured 0.94 on the whole dev set
    assert found_term / gold >= 0.55  # measured 0.61


@pytest.mark.parametrize(
    ("text", "term", "label"),
    [
        # Mixed sentences of the kind the ABSA sets hold: each aspect keeps its own polarity.
        ("菜很好吃，就是上菜太慢了，等了四十分钟", "上菜", "negative"),
        ("环境很好，但是服务员态度太差了", "服务员", "negative"),
        ("价格有点贵，不过味道真的很好", "味道", "positive"),
    ],
)
def test_mixed_sentences_keep_each_aspects_polarity(model_pipeline: Pipeline, text: str, term: str, label: str) -> None:
    [result] = list(model_pipeline.pipe([Item("m", "survey", text)]))
    [aspect] = [a for a in result.aspects if term in a.term]
    assert aspect.label == label, result.aspects
