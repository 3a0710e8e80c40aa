from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nlp.config import SentimentConfig
from nlp.errors import InputError
from nlp.resources import data_path
from nlp.schema import Label
from nlp.sentiment import Explainer, SentimentScorer, sentiment_from_probability
from nlp.sentiment.lexicon import Lexicon, LexiconScorer
from nlp.tokenize import Tokenizer, read_word_list


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


@pytest.fixture(scope="module")
def scorer(tokenizer: Tokenizer) -> LexiconScorer:
    return LexiconScorer(tokenizer)


def _cues(scorer: LexiconScorer, text: str) -> dict[str, float]:
    return {c.word: c.weight for c in scorer.explain(text).cues}


@pytest.mark.parametrize(
    ("text", "label", "cue", "sign"),
    [
        ("满意", "positive", "满意", 1),
        ("不满意", "negative", "满意", -1),
        ("很不满意", "negative", "满意", -1),
        ("不是很满意", "negative", "满意", -1),
        ("非常满意", "positive", "满意", 1),
        ("不太好", "negative", "好", -1),
        ("快递太慢了", "negative", "太慢", -1),
        ("安装师傅很专业", "positive", "专业", 1),
        ("退款不到账", "negative", "不到账", -1),
        ("好贵啊", "negative", "贵", -1),
        ("客服推诿，一直没人管", "negative", "没人管", -1),
        ("外包装破损，还少发了一个滤芯", "negative", "少发", -1),
        ("师傅上门很及时，服务很耐心", "positive", "耐心", 1),
    ],
)
def test_cues_and_labels(scorer: LexiconScorer, text: str, label: Label, cue: str, sign: int) -> None:
    sentiment = scorer(text)
    assert sentiment.label == label
    assert sentiment.model_version == "lexicon-1"
    cues = _cues(scorer, text)
    assert cue in cues
    assert cues[cue] * sign > 0


@pytest.mark.parametrize("text", ["没有不满意", "不差", "没有问题"])
def test_double_negation_is_not_negative(scorer: LexiconScorer, text: str) -> None:
    assert scorer(text).label != "negative"
    assert scorer.negative_probability(text) < 0.5


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [
        ("质量非常好", "质量好"),
        ("非常满意", "满意"),
        ("质量太差了！", "质量太差了"),
        ("很不满意", "不满意"),
    ],
)
def test_degree_and_exclamation_strengthen(scorer: LexiconScorer, stronger: str, weaker: str) -> None:
    strong, weak = scorer.explain(stronger).cues[0].weight, scorer.explain(weaker).cues[0].weight
    assert abs(strong) > abs(weak)
    assert strong * weak > 0


def test_softened_negation_is_weaker_than_plain(scorer: LexiconScorer) -> None:
    # 不是很满意 is a milder complaint than 不满意, and 很不满意 a stronger one.
    weights = [_cues(scorer, t)["满意"] for t in ("不是很满意", "不满意", "很不满意")]
    assert 0 > weights[0] > weights[1] > weights[2]


def test_contrast_weights_the_later_clause(scorer: LexiconScorer) -> None:
    text = "客服态度很好但是退款一直不到账"
    explanation = scorer.explain(text)
    assert scorer(text).label == "negative"
    assert explanation.cues[0].word == "不到账"
    weights = {c.word: c.weight for c in explanation.cues}
    assert weights["好"] > 0
    # The praise before 但是 counts less than it would alone.
    assert weights["好"] < _cues(scorer, "客服态度很好")["好"]
    assert scorer("虽然价格有点贵，但是质量很好").label == "positive"


def test_cues_are_sorted_by_strength(scorer: LexiconScorer) -> None:
    cues = scorer.explain("东西还行，就是物流太慢了，客服也爱答不理的，太失望了").cues
    assert len(cues) >= 3
    strengths = [abs(c.weight) for c in cues]
    assert strengths == sorted(strengths, reverse=True)


@pytest.mark.parametrize("text", ["如果能再便宜点就更好了", "希望客服态度能好一点"])
def test_wishes_read_as_mild_complaints(scorer: LexiconScorer, text: str) -> None:
    assert scorer.negative_probability(text) > 0.5


@pytest.mark.parametrize(
    "text",
    [
        "好的，谢谢",
        "嗯嗯好的",
        "好",
        "哦哦 可以的",
        "请问发票怎么开",
        "麻烦您帮我查一下订单",
        "辛苦了，谢谢",
        "",
    ],
)
def test_filler_and_questions_are_neutral(scorer: LexiconScorer, text: str) -> None:
    assert scorer.negative_probability(text) == 0.5
    assert scorer(text).label == "neutral"
    assert scorer.explain(text).cues == ()


@pytest.mark.parametrize(
    ("text", "praise"),
    [
        ("已经修好了", False),
        ("订单等了好几天", False),
        ("你看清楚好吗", False),
        ("太好了", True),
        ("服务很好了", True),
    ],
)
def test_hao_as_grammar_is_not_praise(scorer: LexiconScorer, text: str, praise: bool) -> None:
    assert ("好" in _cues(scorer, text)) is praise


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("我要投诉你们，气死我了", "愤怒"),
        ("再这样我就打12315了", "愤怒"),
        ("什么破东西，用两天就坏了", "愤怒"),
        ("都一个星期了还没收到，我很着急，到底什么时候能到", "焦虑"),
        ("太失望了，再也不买了", "失望"),
        ("饭菜里有虫，太恶心了", "厌恶"),
    ],
)
def test_emotion_of_negative_text(scorer: LexiconScorer, text: str, emotion: str) -> None:
    assert scorer(text).label == "negative"
    assert scorer.explain(text).emotion == emotion


@pytest.mark.parametrize("text", ["安装师傅很专业，非常满意", "请问发票怎么开", "我一点都不生气"])
def test_no_emotion_for_non_negative_text(scorer: LexiconScorer, text: str) -> None:
    assert scorer.explain(text).emotion is None


def test_score_is_batched_and_ordered(scorer: LexiconScorer) -> None:
    texts = ["非常满意", "不满意", "请问发票怎么开"]
    results = scorer.score(texts)
    assert [r.label for r in results] == ["positive", "negative", "neutral"]
    assert list(scorer.pipe(texts, batch_size=2)) == results
    for r in results:
        assert r.score == pytest.approx(1 - 2 * r.negative_probability)


def test_implements_both_protocols(scorer: LexiconScorer) -> None:
    assert isinstance(scorer, SentimentScorer)
    assert isinstance(scorer, Explainer)


@pytest.mark.parametrize(
    ("p", "label", "score"),
    [
        (0.9, "negative", -0.8),
        (0.6, "negative", -0.2),
        (0.5, "neutral", 0.0),
        (0.4, "positive", 0.2),
        (0.0, "positive", 1.0),
    ],
)
def test_sentiment_from_probability(p: float, label: Label, score: float) -> None:
    sentiment = sentiment_from_probability(p, "lexicon-1", SentimentConfig())
    assert sentiment.label == label
    assert sentiment.score == pytest.approx(score)
    assert sentiment.negative_probability == p


def test_neutral_band_comes_from_config() -> None:
    wide = SentimentConfig(negative_above=0.8, positive_below=0.2)
    assert sentiment_from_probability(0.7, "x", wide).label == "neutral"
    assert sentiment_from_probability(0.7, "x", SentimentConfig()).label == "negative"


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_probability_out_of_range_is_a_bug(p: float) -> None:
    with pytest.raises(ValueError, match="probabilities must be in"):
        sentiment_from_probability(p, "broken-1", SentimentConfig())


def _copy_lexicon(tmp_path: Path) -> Path:
    folder = tmp_path / "lexicon"
    shutil.copytree(data_path("lexicon"), folder)
    return folder


def test_domain_entries_of_a_custom_lexicon_dir(tokenizer: Tokenizer, tmp_path: Path) -> None:
    folder = _copy_lexicon(tmp_path)
    with (folder / "domain_polarity.tsv").open("a", encoding="utf-8") as f:
        f.write("踩雷\t-1.5\n")
    text = "这次又踩雷了"
    assert LexiconScorer(tokenizer).explain(text).cues == ()
    custom = LexiconScorer(tokenizer, lexicon_dir=folder)
    assert custom(text).label == "negative"
    assert custom.explain(text).cues[0].word == "踩雷"


def test_broken_lexicon_file_names_file_and_row(tokenizer: Tokenizer, tmp_path: Path) -> None:
    folder = _copy_lexicon(tmp_path)
    path = folder / "domain_polarity.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines[:5], "坏掉的一行", *lines[5:]]) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        LexiconScorer(tokenizer, lexicon_dir=folder)
    assert f"{path}:6" in str(caught.value)


def test_no_sentiment_word_or_operator_is_a_stopword() -> None:
    lexicon = Lexicon.load()
    stopwords = read_word_list(data_path("stopwords.txt"))
    cues = {w for w, v in lexicon.polarity.items() if v} | lexicon.negators | set(lexicon.degree)
    assert not cues & stopwords
    assert lexicon.filler <= stopwords
