"""Person names: the noise filter and the surname + title rule as tables, the LAC model on a few lines."""

from __future__ import annotations

import pytest

from nlp.config import RedactionConfig
from nlp.ner import PersonNameFinder, clean_name_span, merge_spans, surname_title_spans


@pytest.fixture(scope="module")
def finder() -> PersonNameFinder:
    return PersonNameFinder()


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("张伟在吗", (0, 2), "张伟"),
        (" 张伟，在吗", (0, 3), "张伟"),  # edges that are not Chinese are trimmed
        ("王女士您好", (0, 3), "王"),  # the title stays visible
        ("李师傅安装很专业", (0, 3), "李"),
        ("客服阳阳为您服务", (2, 4), "阳阳"),
        ("客服", (0, 2), None),  # a role alone
        ("恩", (0, 1), None),  # one character
        ("嗯恩", (0, 2), None),  # interjection
        ("[子][订单]", (0, 2), None),  # one character once the bracket is trimmed
        ("30元原返", (2, 4), None),  # a unit after a number
        ("李宁的鞋子", (0, 2), None),  # brand
        ("高林中路18号", (0, 4), None),  # a road
        ("LUOLAI家纺", (0, 6), None),  # not Chinese
    ],
)
def test_clean_name_span(text: str, span: tuple[int, int], expected: str | None) -> None:
    cleaned = clean_name_span(text, *span)
    assert (text[slice(*cleaned)] if cleaned else None) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("陈先生您好", ["陈"]),
        ("欧阳女士，您的快递到了", ["欧阳"]),
        ("王小姐和李先生都来了", ["王", "李"]),
        ("好的谢谢先生", []),
        ("这位先生请稍等", []),
        ("先生您好", []),
    ],
)
def test_surname_title_spans(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in surname_title_spans(text)] == expected


def test_surname_titles_come_from_config() -> None:
    assert surname_title_spans("李师傅到了") == []
    assert surname_title_spans("李师傅到了", RedactionConfig(surname_titles=("师傅",))) == [(0, 1)]


def test_merge_spans() -> None:
    assert merge_spans([(5, 7), (0, 2), (1, 3), (3, 4)]) == [(0, 4), (5, 7)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("张伟在吗", ["张伟"]),
        ("您好，我是李娜。订单还没到！麻烦转告刘经理", ["李娜", "刘"]),
        ("赵小姐的快递放在门卫了", ["赵"]),
        ("张家界的风景很好，京东的物流也快", []),
        ("order 12345, thanks", []),
        ("", []),
    ],
)
def test_finder_on_the_model(finder: PersonNameFinder, text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in finder(text)] == expected


def test_pipe_keeps_order_and_copies_duplicates(finder: PersonNameFinder) -> None:
    texts = ["张伟在吗", "没有名字", "张伟在吗"]
    results = list(finder.pipe(texts, batch_size=2))
    assert results == [[(0, 2)], [], [(0, 2)]]
    results[0].append((9, 9))
    assert results[2] == [(0, 2)]
