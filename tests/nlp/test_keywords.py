from __future__ import annotations

import pytest

from nlp.errors import NotFittedError
from nlp.keywords import KeywordExtractor
from nlp.schema import Result, Sentiment, TurnResult
from nlp.tokenize import Tokenizer

NEUTRAL = Sentiment("neutral", 0.0, 0.5, "test")


def survey(text: str, id: str = "s") -> Result:
    return Result(id=id, kind="survey", text=text, sentiment=NEUTRAL)


@pytest.fixture(scope="module")
def extractor() -> KeywordExtractor:
    return KeywordExtractor(Tokenizer())


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("物流太慢了，等了一个星期", "物流慢"),
        ("退款一直不到账", "退款不到账"),
        ("客服态度很差", "客服态度差"),
        ("希望更换屏幕", "更换屏幕"),
        ("书的纸张很差", "纸张差"),
        ("房间很干净，早餐一般", "房间干净"),
    ],
)
def test_phrases_a_manager_can_read(extractor: KeywordExtractor, text: str, phrase: str) -> None:
    assert (phrase, True) in extractor.candidates(text)


@pytest.mark.parametrize(
    "text",
    ["您好，请问一下，谢谢", "好的好的，谢谢您", "嗯嗯，亲，在吗", "您好，[订单信息] [链接] [手机号]"],
)
def test_filler_is_never_a_keyword(extractor: KeywordExtractor, text: str) -> None:
    assert extractor.candidates(text) == []


def test_nouns_kept_and_degree_adverbs_dropped(extractor: KeywordExtractor) -> None:
    terms = [t for t, _ in extractor.candidates("手机屏幕有点暗，电池续航一般")]
    assert "屏幕" in terms and "电池" in terms
    assert not any(t.endswith("有点") for t in terms)


def test_agent_turns_weigh_less(extractor: KeywordExtractor) -> None:
    call = Result(
        id="c1",
        kind="transcript",
        text="快递三天了还没到",
        sentiment=NEUTRAL,
        turns=(
            TurnResult("agent", "您好，运费险已经为您申请", NEUTRAL),
            TurnResult("customer", "快递三天了还没到", NEUTRAL),
        ),
    )
    weights = extractor.count(call).weights
    assert weights["快递"] == pytest.approx(1.0)
    assert weights["运费险"] == pytest.approx(extractor.config.agent_weight)


def test_corpus_idf_ranks_the_rare_demand_first(extractor: KeywordExtractor) -> None:
    corpus = [survey("衣服很好看") for _ in range(20)] + [survey("衣服很好看，发票没有开")]
    fitted = KeywordExtractor(extractor.tokenizer).fit(corpus)
    assert fitted.n_documents_ == 21
    assert fitted.idf("发票") > fitted.idf("衣服")
    assert fitted.keywords(corpus[-1])[0].startswith("发票")


def test_a_phrase_seen_once_is_not_a_keyword_and_words_are_not_repeated(extractor: KeywordExtractor) -> None:
    corpus = [survey("物流太慢了"), survey("这次物流太慢"), survey("屏幕太暗了")]
    fitted = KeywordExtractor(extractor.tokenizer).fit(corpus)
    assert fitted.keywords(corpus[0]) == ("物流慢",)  # 物流 is inside 物流慢
    assert "屏幕暗" not in fitted.keywords(corpus[2])  # one document only


def test_unfitted_extractor_raises(extractor: KeywordExtractor) -> None:
    with pytest.raises(NotFittedError):
        KeywordExtractor(extractor.tokenizer).keywords(survey("物流太慢"))


def test_a_second_extractor_on_the_same_tokenizer_keeps_the_domain_tags(extractor: KeywordExtractor) -> None:
    # jieba gives the user dictionary's tags to the first POS tokenizer that cuts, then clears them.
    first = extractor.candidates("退款一直不到账，物流太慢")
    second = KeywordExtractor(extractor.tokenizer).candidates("退款一直不到账，物流太慢")
    assert second == first
    assert ("退款不到账", True) in second and ("物流慢", True) in second
