from __future__ import annotations

import pytest

from nlp.errors import InputError
from nlp.readers import read_bytes
from nlp.readers.transcript_text import read_transcript_text, speaker_of_label
from nlp.schema import Item, Turn


def _read(text: str) -> tuple[list[Item], list[tuple[int | None, str | None, str]]]:
    outcome = read_bytes(text.encode("utf-8"), "calls.txt")
    return outcome.items, [(p.location.row, p.location.field, p.message) for p in outcome.problems]


@pytest.mark.parametrize(
    ("line", "speaker", "text", "start"),
    [
        ("客服：您好，这里是售后回访", "agent", "您好，这里是售后回访", None),
        ("客服:您好", "agent", "您好", None),
        ("坐席：请问快递收到了吗", "agent", "请问快递收到了吗", None),
        ("顾客：快递三天还没到", "customer", "快递三天还没到", None),
        ("客户： 退款一直不到账", "customer", "退款一直不到账", None),
        ("用户：安装师傅态度很好", "customer", "安装师傅态度很好", None),
        ("客戶：退款一直不到賬", "customer", "退款一直不到賬", None),
        ("【客服】您好，请问安装还满意吗", "agent", "您好，请问安装还满意吗", None),
        ("【客户】：挺满意的", "customer", "挺满意的", None),
        ("[客服] 您好", "agent", "您好", None),
        ("[客户]快递太慢了", "customer", "快递太慢了", None),
        ("Agent: 您好", "agent", "您好", None),
        ("agent：您好", "agent", "您好", None),
        ("CUSTOMER: 快递太慢了", "customer", "快递太慢了", None),
        ("[00:01:23] 客户：快递三天还没到", "customer", "快递三天还没到", 83.0),
        ("[00:01:23]客户：快递三天还没到", "customer", "快递三天还没到", 83.0),
        ("00:01:23 客服：您好", "agent", "您好", 83.0),
        ("00:01:23客服：您好", "agent", "您好", 83.0),
        ("[01:23] 客户：还没到", "customer", "还没到", 83.0),
        ("[1:02:03] 客户：还没到", "customer", "还没到", 3723.0),
        ("客服小美：亲，在的", "agent", "亲，在的", None),
        ("坐席1001：请问还有其他问题吗", "agent", "请问还有其他问题吗", None),
        ("客户(张先生)：没有了", "customer", "没有了", None),
        ("客服-小王：好的", "agent", "好的", None),
        ("客户经理：我是您的专属经理", "agent", "我是您的专属经理", None),
    ],
)
def test_turn_markers_and_timestamps(line: str, speaker: str, text: str, start: float | None) -> None:
    items, problems = _read(f"{line}\n客户：嗯\n")
    assert problems == []
    assert items[0].turns[0] == Turn(speaker, text, start)  # type: ignore[arg-type]


@pytest.mark.parametrize("label", ["用户名", "客服电话", "客户端", "客户 说", "订单号", "备注", "users"])
def test_words_that_merely_start_like_a_marker_are_not_labels(label: str) -> None:
    assert speaker_of_label(label) is None


def test_timestamp_range_gives_start_and_end() -> None:
    items, _ = _read("[00:00:05 - 00:00:09] 客户：快递三天还没到\n")
    assert (items[0].turns[0].start, items[0].turns[0].end) == (5.0, 9.0)


def test_mixed_markers_multiline_turns_headers_and_separators() -> None:
    text = (
        "# 2026年11月 售后回访\n"
        "# id=c7 tier=gold channel=phone date=2026/11/2 地區=華東\n"
        "[00:00:03] 客服：您好，这里是售后回访\n"
        "[00:00:09] 客户：快递三天还没到\n"
        "你们到底管不管？\n"
        "----\n"
        "【客服】您好，请问安装还满意吗\n"
        "【客户】安装师傅态度很好\n"
        "Customer: 就是退款一直不到账\n"
        "\n"
        "# id=c9 tier=银卡\n"
        "坐席：请问还有其他问题吗\n"
        "用户：没有了，谢谢\n"
    )
    items, problems = _read(text)
    assert problems == []
    assert [item.id for item in items] == ["c7", "calls-7", "c9"]
    first = items[0]
    assert first.kind == "transcript"
    assert first.meta == {"tier": "gold", "channel": "phone", "date": "2026-11-02", "region": "华东"}
    assert first.turns == (
        Turn("agent", "您好，这里是售后回访", 3.0),
        Turn("customer", "快递三天还没到\n你们到底管不管？", 9.0),
    )
    assert first.text == "快递三天还没到\n你们到底管不管？"
    assert first.source == "calls.txt:2"
    assert items[1].text == "安装师傅态度很好\n就是退款一直不到账"
    assert items[1].meta == {}
    assert items[2].meta == {"tier": "银卡"}


def test_a_header_line_starts_a_new_call_without_a_separator() -> None:
    items, _ = _read("# id=a1\n客户：快递太慢了\n# id=a2\n客户：退款一直不到账\n")
    assert [(item.id, item.text) for item in items] == [("a1", "快递太慢了"), ("a2", "退款一直不到账")]


def test_a_header_separated_by_a_blank_line_still_applies_to_the_next_call() -> None:
    items, _ = _read("# id=a1 product=净水器\n\n客户：滤芯漏水\n")
    assert (items[0].id, items[0].meta) == ("a1", {"product": "净水器"})


def test_bad_lines_are_reported_with_line_and_field() -> None:
    text = (
        "# id=c1 date=上周三 nps=11\n"
        "您好请问是张先生吗\n"  # unlabelled before any labelled line
        "客服：您好\n"
        "客户：\n"  # an empty turn
        "客户：快递三天还没到\n"
        "\n"
        "客服：请问还有什么问题\n"  # a call where the customer never speaks
        "\n"
        "# id=c3\n"  # a header with no call after it
    )
    items, problems = _read(text)
    assert [item.id for item in items] == ["c1"]
    assert items[0].meta == {}
    assert [(row, field) for row, field, _ in problems] == [
        (1, "date"),
        (1, "nps"),
        (2, "speaker"),
        (4, "text"),
        (7, "turns"),
        (9, None),
    ]
    assert "您好请问是张先生吗" in problems[2][2]


def test_a_marker_alone_takes_its_text_from_the_next_lines() -> None:
    items, problems = _read("客服：您好\n客户：\n快递三天还没到\n")
    assert problems == []
    assert items[0].turns[1] == Turn("customer", "快递三天还没到")


def test_unlabelled_line_keeps_a_bare_time_as_words() -> None:
    items, _ = _read("客户：师傅说下午来\n12:30到的，装得很仔细\n")
    assert items[0].text == "师傅说下午来\n12:30到的，装得很仔细"


def test_a_file_without_any_marker_is_not_a_transcript() -> None:
    with pytest.raises(InputError) as caught:
        read_transcript_text("快递三天还没到\n退款一直不到账\n", "notes.txt", "notes", None)
    assert caught.value.location.file == "notes.txt"
    assert caught.value.location.field == "speaker"


def test_header_keys_follow_the_given_mapping() -> None:
    items, _, report = read_transcript_text(
        "# id=c1 會員級別=钻石\n客户：快递太慢了\n", "a.txt", "a", {"tier": "会员级别"}
    )
    assert items[0][1].meta == {"tier": "钻石"}
    assert report["rows"] == 1
