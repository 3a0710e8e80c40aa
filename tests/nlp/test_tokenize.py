from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jieba
import pytest

from nlp.errors import InputError
from nlp.resources import data_path
from nlp.tokenize import Tokenizer, read_word_list


@pytest.fixture(scope="module")
def tokenizer() -> Iterator[Tokenizer]:
    yield Tokenizer()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    """The same tokenizer without the domain dictionary."""
    empty = tmp_path_factory.mktemp("dict") / "empty.txt"
    empty.write_text("# no words\n", encoding="utf-8")
    return Tokenizer(user_dict=empty)


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("退款不到账", "不到账"),
        ("安装师傅很专业", "安装师傅"),
        ("快递员态度差", "快递员"),
        ("七天无理由退货", "七天无理由退货"),
        ("价格保护能补差价吗", "补差价"),
        ("扫地机器人坏了", "扫地机器人"),
        ("物流信息一直不更新", "物流信息"),
        ("售后退货单需要确认收货后才能提交", "售后"),
    ],
)
def test_domain_dictionary_keeps_words_whole(tokenizer: Tokenizer, plain: Tokenizer, text: str, whole: str) -> None:
    assert whole in tokenizer.cut(text)
    assert whole not in plain.cut(text)


def test_cut_drops_punctuation_and_whitespace(tokenizer: Tokenizer) -> None:
    words = tokenizer.cut("快递太慢了！！ 客服 ……说“稍等”。")
    assert words == ["快递", "太慢", "了", "客服", "说", "稍等"]


def test_global_jieba_is_untouched(tokenizer: Tokenizer) -> None:
    assert tokenizer.jieba is not jieba.dt
    assert "不到账" not in jieba.dt.FREQ
    assert "安装师傅" not in jieba.dt.user_word_tag_tab
    assert jieba.lcut("退款不到账") != tokenizer.cut("退款不到账")


def test_keyword_extraction_uses_the_owned_instance(tokenizer: Tokenizer) -> None:
    tfidf = tokenizer._tfidf
    assert tfidf.tokenizer is tokenizer.jieba
    assert tfidf.postokenizer.tokenizer is tokenizer.jieba


@pytest.mark.parametrize(
    ("text", "kept", "dropped"),
    [
        ("您好，请问我的快递怎么还没有到", {"快递", "没有"}, {"您好", "请问", "的", "我"}),
        ("嗯嗯好的，谢谢，这个净水器不好用", {"净水器", "不好"}, {"嗯嗯", "谢谢"}),
        ("亲，我觉得客服态度很差", {"客服态度", "很差"}, {"亲"}),
    ],
)
def test_content_words(tokenizer: Tokenizer, text: str, kept: set[str], dropped: set[str]) -> None:
    words = set(tokenizer.content_words(text))
    assert kept <= words
    assert not dropped & words


def test_stopwords_keep_sentiment_words_and_negators() -> None:
    stopwords = read_word_list(data_path("stopwords.txt"))
    for word in ("不", "没", "没有", "很", "太", "非常", "好", "差", "最", "不是", "不够", "满意"):
        assert word not in stopwords, word
    for word in ("的", "了", "您好", "你好", "请问", "谢谢", "亲", "嗯", "哦", "好的", "稍等", "在吗"):
        assert word in stopwords, word


def test_keywords_of_a_real_complaint(tokenizer: Tokenizer) -> None:
    text = "您好，我上个月买的净水器申请了退款，到现在退款还没到账，客服一直推诿，请问到底什么时候能退？谢谢"
    keywords = tokenizer.keywords(text, top_k=5)
    assert keywords[0] == "退款"
    assert {"净水器", "没到账"} <= set(keywords)
    assert not {"您好", "请问", "谢谢"} & set(tokenizer.keywords(text, top_k=50))


@pytest.mark.parametrize("text", ["", "   ", "，。！"])
def test_keywords_of_nothing(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.keywords(text) == []


def test_pipe_keeps_order(tokenizer: Tokenizer) -> None:
    texts = ["物流太慢", "安装师傅很好", "退款不到账"]
    assert list(tokenizer.pipe(texts, batch_size=2)) == [tokenizer.cut(t) for t in texts]


def test_broken_user_dictionary_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "domain.txt"
    broken.write_text("# comment\n退款 100 n\n安装 师傅 5 n\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        Tokenizer(user_dict=broken)
    assert f"{broken}:3" in str(caught.value)


def test_missing_stopwords_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"stopwords\.txt"):
        Tokenizer(stopwords=tmp_path / "stopwords.txt")
