from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest

from nlp.errors import InputError
from nlp.readers import ReadOutcome, read_bytes, read_path

ANSWERS = [
    ("1", "快递三天还没到，客服也联系不上", "2", "2026-11-02", "金卡", "华东"),
    ("2", "退款一直不到账", "0", "2026-11-03", "银卡", "华南"),
    ("3", "安装师傅态度很好，很专业", "10", "2026-11-04", "金卡", "华北"),
]


def _csv(headers: Sequence[str], rows: Sequence[Sequence[str]], delimiter: str = ",") -> str:
    return "\n".join(delimiter.join(cells) for cells in [headers, *rows]) + "\n"


def _where(outcome: ReadOutcome) -> list[tuple[int | None, str | None]]:
    return [(p.location.row, p.location.field) for p in outcome.problems]


def _summary(outcome: ReadOutcome) -> list[tuple[str, str, dict[str, object]]]:
    return [(item.id, item.text, dict(item.meta)) for item in outcome.items]


EXPECTED = [
    (
        "1",
        "快递三天还没到，客服也联系不上",
        {"nps": 2, "date": "2026-11-02", "tier": "金卡", "region": "华东"},
    ),
    ("2", "退款一直不到账", {"nps": 0, "date": "2026-11-03", "tier": "银卡", "region": "华南"}),
    ("3", "安装师傅态度很好，很专业", {"nps": 10, "date": "2026-11-04", "tier": "金卡", "region": "华北"}),
]


@pytest.mark.parametrize(
    ("name", "delimiter", "encoding", "prefix"),
    [
        ("survey.csv", ",", "utf-8", b""),
        ("survey.csv", ",", "utf-8-sig", b"\xef\xbb\xbf"),
        ("survey.tsv", "\t", "utf-8", b""),
        ("survey.csv", "\t", "utf-8", b""),
        ("survey.csv", ";", "utf-8", b""),
        ("survey.csv", "|", "utf-8", b""),
        ("survey.csv", ",", "gb18030", b""),
    ],
)
def test_delimited_surveys_with_chinese_headers(name: str, delimiter: str, encoding: str, prefix: bytes) -> None:
    text = _csv(["编号", "回答", "NPS评分", "日期", "客户等级", "地区"], ANSWERS, delimiter)
    data = prefix + text.encode("gbk" if encoding == "gb18030" else "utf-8")
    outcome = read_bytes(data, name)
    assert outcome.problems == []
    assert _summary(outcome) == EXPECTED
    assert outcome.items[0].kind == "survey" and outcome.items[0].turns == ()
    assert outcome.items[0].source == f"{name}:2"
    assert outcome.report["format"] == "survey-csv"
    assert outcome.report["encoding"] == encoding
    assert outcome.report["delimiter"] == delimiter
    assert outcome.report["columns"] == {
        "id": "编号",
        "text": "回答",
        "nps": "NPS评分",
        "date": "日期",
        "tier": "客户等级",
        "region": "地区",
    }


def test_excel_sep_line_sets_the_delimiter() -> None:
    text = "sep=;\n" + _csv(["id", "text", "nps"], [("1", "快递太慢了,包装也破了", "3")], ";")
    outcome = read_bytes(text.encode(), "export.csv")
    assert [(item.source, item.text) for item in outcome.items] == [("export.csv:3", "快递太慢了,包装也破了")]


def test_traditional_headers_and_values() -> None:
    text = _csv(
        ["編號", "意見", "滿意度", "客戶等級", "產品線", "來源", "備註"],
        [("s1", "退款一直不到賬，很失望", "非常不滿意", "鑽石會員", "淨水器", "電話回訪", "")],
    )
    outcome = read_bytes(text.encode(), "traditional.csv")
    (item,) = outcome.items
    assert item.text == "退款一直不到賬，很失望"  # text is kept as written
    assert dict(item.meta) == {"csat": 1, "tier": "钻石会员", "product": "净水器", "channel": "电话回访"}
    assert outcome.report["columns"]["tier"] == "客戶等級"


def test_gbk_csv_with_traditional_free_form_headers() -> None:
    text = _csv(
        ["序号", "评价", "满意度评分", "提交时间", "产品"],
        [("7", "安装师傅态度很好", "5", "2026/11/2 10:31", "空调")],
    )
    outcome = read_bytes(text.encode("gbk"), "回访.csv")
    assert outcome.report["encoding"] == "gb18030"
    assert _summary(outcome) == [("7", "安装师傅态度很好", {"csat": 5, "date": "2026-11-02", "product": "空调"})]


def test_xlsx_with_title_row_numbers_and_date_cells(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["2026年11月 售后满意度回访"])
    sheet.append(["編號", "意見", "推薦度", "滿意度", "提交時間", "客戶等級"])
    sheet.append([101, "快递三天还没到", 3, 2.0, dt.datetime(2026, 11, 2, 14, 3), "金卡"])
    sheet.append([None, None, None, None, None, None])
    sheet.append([102, "安装师傅态度很好", 10.0, 5, dt.date(2026, 11, 3), "銀卡"])
    sheet.append([103, "退款一直不到账", "９", "一般", 46329, None])
    second = workbook.create_sheet("其他")
    second.append(["回答"])
    second.append(["这张表不该被读"])
    path = tmp_path / "满意度.xlsx"
    workbook.save(path)

    outcome = read_path(path)
    assert outcome.problems == []
    assert _summary(outcome) == [
        ("101", "快递三天还没到", {"nps": 3, "csat": 2, "date": "2026-11-02", "tier": "金卡"}),
        ("102", "安装师傅态度很好", {"nps": 10, "csat": 5, "date": "2026-11-03", "tier": "银卡"}),
        ("103", "退款一直不到账", {"nps": 9, "csat": 3, "date": "2026-11-03"}),
    ]
    assert [item.source for item in outcome.items] == [f"{path}:3", f"{path}:5", f"{path}:6"]
    assert outcome.report["format"] == "survey-xlsx"
    assert outcome.report["header_row"] == 2
    assert outcome.report["rows"] == 3


def test_survey_jsonl_with_nested_meta() -> None:
    records = [
        {"id": "s1", "text": "快递太慢了", "nps": "3", "meta": {"tier": "gold", "地區": "華東"}},
        {"id": "s2", "text": "客服很耐心", "nps": 9.0, "channel": "app"},
    ]
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()
    outcome = read_bytes(data, "survey.jsonl")
    assert outcome.report["format"] == "survey-jsonl"
    assert _summary(outcome) == [
        ("s1", "快递太慢了", {"nps": 3, "tier": "gold", "region": "华东"}),
        ("s2", "客服很耐心", {"nps": 9, "channel": "app"}),
    ]


def test_explicit_mapping_overrides_inference() -> None:
    text = _csv(["单号", "评语", "评价", "会员卡"], [("A-1", "退款一直不到账", "差", "黑卡")])
    outcome = read_bytes(text.encode(), "s.csv", columns={"id": "单号", "text": "评语", "tier": "会员卡"})
    assert _summary(outcome) == [("A-1", "退款一直不到账", {"tier": "黑卡", "评价": "差"})]
    assert outcome.report["inference"] == {"id": "given", "text": "given", "tier": "given"}


def test_a_given_column_that_is_missing_names_the_headers() -> None:
    text = _csv(["编号", "回答"], [("1", "快递太慢了")])
    with pytest.raises(InputError) as caught:
        read_bytes(text.encode(), "s.csv", columns={"text": "意见"})
    assert caught.value.location.field == "意见"
    assert "回答" in caught.value.message


def test_question_headers_are_matched_by_keyword_when_values_agree() -> None:
    headers = ["序号", "您向朋友推荐我们的可能性有多大？", "您对本次服务满意吗？", "您还有什么意见或建议？"]
    rows = [("1", "8", "满意", "师傅上门很准时"), ("2", "3", "不满意", "快递三天还没到")]
    outcome = read_bytes(_csv(headers, rows).encode(), "wjx.csv")
    assert outcome.report["inference"] == {
        "id": "header",
        "nps": "keyword",
        "csat": "keyword",
        "text": "keyword",
    }
    assert outcome.report["guessed"] == ["csat", "nps", "text"]
    assert _summary(outcome)[1] == ("2", "快递三天还没到", {"nps": 3, "csat": 2})


def test_text_column_is_guessed_from_longest_chinese_values() -> None:
    headers = ["Q1", "Q2", "Q3"]
    rows = [
        ("华东", "快递三天还没到，打了好几次电话都没人接", "3"),
        ("华南", "安装师傅态度很好，还帮忙清理了现场", "9"),
    ]
    outcome = read_bytes(_csv(headers, rows).encode(), "s.csv")
    assert outcome.report["columns"]["text"] == "Q2"
    assert outcome.report["inference"]["text"] == "values"
    assert outcome.report["guessed"] == ["text"]
    assert dict(outcome.items[0].meta) == {"Q1": "华东", "Q3": "3"}


def test_no_plausible_text_column_is_an_input_error_naming_the_headers() -> None:
    text = _csv(["编号", "地区", "分数"], [("1", "华东", "3"), ("2", "华南", "9")])
    with pytest.raises(InputError) as caught:
        read_bytes(text.encode(), "scores.csv")
    assert caught.value.location.file == "scores.csv"
    assert caught.value.location.field == "text"
    assert "地区" in caught.value.message and "分数" in caught.value.message


def test_bad_rows_are_reported_with_row_and_field_and_optional_fields_dropped() -> None:
    rows = [
        ("1", "快递三天还没到", "3", "2026-11-02"),
        ("2", "", "9", "2026-11-02"),
        ("3", "退款一直不到账", "11", "2026-11-02"),
        ("4", "安装师傅态度很好", "10", "上周三"),
        ("5", "///", "8", "2026-11-05"),
        ("1", "客服态度很差", "1", "2026.11.06"),
    ]
    outcome = read_bytes(_csv(["编号", "回答", "NPS", "日期"], rows).encode(), "bad.csv")
    assert _summary(outcome) == [
        ("1", "快递三天还没到", {"nps": 3, "date": "2026-11-02"}),
        ("3", "退款一直不到账", {"date": "2026-11-02"}),
        ("4", "安装师傅态度很好", {"nps": 10}),
        ("1#2", "客服态度很差", {"nps": 1, "date": "2026-11-06"}),
    ]
    assert _where(outcome) == [(3, "text"), (4, "nps"), (5, "date"), (6, "text"), (7, "id")]
    assert "column '日期'" in outcome.problems[2].message
    assert "11" in outcome.problems[1].message
    assert outcome.report["rows"] == 6


def test_multiline_quoted_answer_keeps_the_row_where_it_starts() -> None:
    text = '编号,回答,NPS\n1,"快递三天还没到\n打电话也没人接",2\n2,,5\n'
    outcome = read_bytes(text.encode(), "s.csv")
    assert outcome.items[0].text == "快递三天还没到\n打电话也没人接"
    assert _where(outcome) == [(4, "text")]


@pytest.mark.parametrize(
    ("text", "row", "field"),
    [
        ('编号,回答\n1,快递太慢了\n2,"退款"一直不到账\n', 3, "回答"),
        ('编号,回答,地区\n1,"快递太慢了\n2,退款一直不到账,华东\n', 2, "回答"),
        ('编号,回答\n1,"快递""太慢""了"\n"2"x,退款\n', 3, "编号"),
        ('"编号,回答\n1,快递太慢了\n', 1, "column 1"),
        ("编号,回答\n1,快递太慢了\n2,退款一直不到账,客服也不回\n", 3, "column 3"),
    ],
)
def test_malformed_csv_rejects_the_file_naming_the_row(text: str, row: int, field: str | None) -> None:
    with pytest.raises(InputError) as caught:
        read_bytes(text.encode(), "broken.csv")
    assert (caught.value.location.file, caught.value.location.row) == ("broken.csv", row)
    assert caught.value.location.field == field


def test_short_rows_and_blank_lines_are_tolerated() -> None:
    outcome = read_bytes("编号,回答,地区\n\n1,快递太慢了\n".encode(), "s.csv")
    assert _summary(outcome) == [("1", "快递太慢了", {})]


def test_broken_xlsx_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        read_bytes(b"PK\x03\x04 not really a workbook", "s.xlsx")
    assert "XLSX" in caught.value.message


def test_a_title_row_above_a_csv_header_does_not_hide_the_delimiter() -> None:
    text = "2026年11月 售后满意度回访\n" + _csv(["编号", "回答", "NPS评分", "日期", "客户等级", "地区"], ANSWERS)
    outcome = read_bytes(text.encode("gbk"), "回访.csv")
    assert (outcome.report["delimiter"], outcome.report["header_row"]) == (",", 2)
    assert _summary(outcome) == EXPECTED
