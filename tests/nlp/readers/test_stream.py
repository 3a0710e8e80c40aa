"""Streamed reading: the same items, problems and report as reading the whole input, with the
text cut into small chunks and the columns inferred on a small sample; late encodings; errors
deep in a long file; items not held."""

from __future__ import annotations

import datetime as dt
import gc
import io
import json
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from nlp.errors import InputError, RowProblem
from nlp.readers import StreamLimits, iter_bytes, iter_path, read_bytes, read_path
from nlp.readers.survey import InferenceLimits
from nlp.schema import Item

# Chunks of a few bytes (characters cut in two, CRLF split), the encoding chosen on 512 bytes and
# the columns on the first two rows: every boundary a long file has, in a short one.
TINY = StreamLimits(sample_bytes=512, chunk_bytes=5, inference=InferenceLimits(sample_rows=2))

ANSWERS = [
    "快递三天还没到，客服也联系不上",
    "退款一直不到账",
    "安装师傅态度很好，很专业",
    "滤芯漏水，换了两次还是不行",
    "空调不制冷，夏天根本没法用",
    "价格太贵了，和宣传的不一样",
]
TIERS = ["金卡", "银卡", "鑽石會員"]


def _survey_rows(count: int) -> list[list[str]]:
    rows = []
    for number in range(1, count + 1):
        answer = ANSWERS[number % len(ANSWERS)]
        nps = "11" if number % 7 == 0 else str(number % 11)  # 11 is out of range: a problem
        date = "上周三" if number % 9 == 0 else f"2026-11-{number % 28 + 1:02d}"  # a problem
        rows.append([str(number % 13), answer, nps, date, TIERS[number % 3], "华东"])
    rows[4][1] = ""  # empty answer: a problem, no item
    rows[6][1] = "///"
    rows[8][1] = "客服态度很差\r\n还挂电话"  # a quoted line break
    return rows


def _csv(delimiter: str = ",", encoding: str = "utf-8", title: bool = True) -> bytes:
    out = io.StringIO()
    if title:
        out.write("2026年11月 售后满意度回访\r\n")
    out.write(delimiter.join(["编号", "回答", "NPS评分", "日期", "客户等级", "地区"]) + "\r\n")
    for cells in _survey_rows(40):
        quoted = [f'"{cell}"' if "\n" in cell or delimiter in cell else cell for cell in cells]
        out.write(delimiter.join(quoted) + "\r\n")
    out.write("\r\n")  # a blank line at the end
    return out.getvalue().encode(encoding)


def _xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["2026年11月 售后满意度回访"])
    sheet.append(["編號", "意見", "推薦度", "滿意度", "提交時間", "客戶等級"])
    for number, cells in enumerate(_survey_rows(30), start=1):
        row: list[object] = [100 + number, cells[1] or None, number % 11, "一般", dt.date(2026, 11, number % 28 + 1)]
        row.append(TIERS[number % 3])
        if number == 20:
            row += [None, "安装时多收了钱"]  # wider than every row of the sample
        sheet.append(row)
        if number % 10 == 0:
            sheet.append([None] * 6)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def _survey_jsonl() -> bytes:
    records: list[dict[str, object]] = []
    for number, cells in enumerate(_survey_rows(24), start=1):
        record: dict[str, object] = {"id": f"s{number % 10}", "回答": cells[1], "推荐度": cells[2]}
        record["meta"] = {"客户等级": cells[4]}
        if number > 5:
            record["区域"] = "華南"  # a synonym first seen after the sample
        if number == 12:
            record["备注"] = "老客户"  # a free key first seen after the sample
        records.append(record)
    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n").encode("gb18030")


def _calls() -> list[dict[str, object]]:
    calls: list[dict[str, object]] = []
    for number in range(1, 16):
        turns: list[object] = [
            {"speaker": "客服", "text": "您好，这里是售后回访", "start": 0},
            {"speaker": "顾客", "text": ANSWERS[number % len(ANSWERS)], "start": 3, "end": 9},
        ]
        if number % 5 == 0:
            turns = turns[:1]  # the customer never speaks: a problem
        if number % 4 == 0:
            turns.append({"speaker": "路人", "text": "喂？"})  # unknown speaker: a problem
        meta = {"tier": TIERS[number % 3], "date": "上个月" if number == 3 else "2026-11-02"}
        calls.append({"id": f"c{number % 6}", "turns": turns, "meta": meta})
    return calls


def _transcript_jsonl() -> bytes:
    return "\n".join(json.dumps(call, ensure_ascii=False) for call in _calls()).encode("utf-8")


def _json_array() -> bytes:
    return json.dumps(_calls(), ensure_ascii=False).encode("utf-8")  # one line, one array


def _transcript_text() -> bytes:
    calls = []
    for number in range(1, 14):
        header = f"# id=t{number % 5} tier={TIERS[number % 3]} date={'上周三' if number == 4 else '2026/11/2'}\r\n"
        lines = [
            "您好请问是张先生吗" if number == 2 else "",  # before any turn: a problem
            "[00:00:03] 客服：您好，这里是售后回访",
            f"[00:00:09] 客户：{ANSWERS[number % len(ANSWERS)]}",
            "你们到底管不管？" if number % 3 == 0 else "",
            "客户：" if number % 4 == 0 else "",  # an empty turn: a problem
        ]
        separator = "---\r\n" if number % 2 else "\r\n"
        calls.append(header + "".join(line + "\r\n" for line in lines if line) + separator)
    calls.append("# id=orphan\r\n")  # a header with no call after it: a problem
    return "".join(calls).encode("utf-8")


INPUTS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "csv-utf8": ("survey.csv", lambda: _csv()),
    "csv-bom": ("survey.csv", lambda: b"\xef\xbb\xbf" + _csv()),
    "csv-gbk": ("回访.csv", lambda: _csv(encoding="gbk")),
    "tsv": ("survey.tsv", lambda: _csv("\t", title=False)),
    "semicolon-gbk": ("survey.csv", lambda: _csv(";", encoding="gbk")),
    "xlsx": ("满意度.xlsx", _xlsx),
    "survey-jsonl": ("answers.jsonl", _survey_jsonl),
    "transcript-jsonl": ("calls.jsonl", _transcript_jsonl),
    "json-array": ("calls.json", _json_array),
    "transcript-text": ("calls.txt", _transcript_text),
}


def _read_streamed(
    data: bytes, name: str, limits: StreamLimits = TINY
) -> tuple[list[Item], list[RowProblem], dict[str, Any]]:
    stream = iter_bytes(data, name, limits=limits)
    items, problems = [], []
    for item in stream:
        items.append(item)
        problems += stream.take_problems()  # handed over as they come
    problems += stream.take_problems()
    assert stream.exhausted
    return items, problems, stream.report


@pytest.mark.parametrize("case", list(INPUTS))
def test_the_stream_gives_what_reading_the_whole_input_gives(case: str) -> None:
    name, make = INPUTS[case]
    data = make()
    whole = read_bytes(data, name)
    items, problems, report = _read_streamed(data, name)
    assert whole.items and whole.problems  # the examples hold items and bad rows
    assert items == whole.items
    assert problems == whole.problems
    assert report == whole.report
    assert list(report) == list(whole.report)  # same keys in the same order


def test_read_path_and_iter_path_agree_on_a_file(tmp_path: Path) -> None:
    path = tmp_path / "满意度.xlsx"
    path.write_bytes(_xlsx())
    whole = read_path(path)
    stream = iter_path(path, limits=TINY)
    assert list(stream) == whole.items
    assert (stream.take_problems(), stream.report) == (whole.problems, whole.report)
    assert whole.report["sheet"] == "Sheet" and whole.report["header_row"] == 2
    assert whole.items[0].source == f"{path}:3"


def test_problems_come_in_row_order_while_the_stream_is_read() -> None:
    stream = iter_bytes(_transcript_text(), "calls.txt", limits=TINY)
    taken_before_the_end = []
    for _ in stream:
        taken_before_the_end += stream.take_problems()
    rest = stream.take_problems()
    rows = [problem.location.row or 0 for problem in [*taken_before_the_end, *rest]]
    assert taken_before_the_end, "problems are handed over before the stream ends"
    assert rows == sorted(rows)
    assert stream.report["problems"] == len(rows)
    assert stream.problems == []


def test_columns_first_seen_after_the_sample_are_mapped_or_kept_as_metadata() -> None:
    items, _, report = _read_streamed(_survey_jsonl(), "answers.jsonl")
    assert dict(items[0].meta) == {"nps": 1, "tier": "银卡"}
    late = next(item for item in items if item.source == "answers.jsonl:12")
    assert dict(late.meta) == {"nps": 1, "tier": "金卡", "region": "华南", "备注": "老客户"}
    assert report["columns"]["region"] == "区域" and report["inference"]["region"] == "header"


@pytest.mark.parametrize(("encoding", "expected"), [("gbk", "gb18030"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")])
def test_encoding_is_detected_when_the_first_chinese_comes_after_a_long_ascii_prefix(
    tmp_path: Path, encoding: str, expected: str
) -> None:
    ascii_answer = "ok, the engineer came on time and fixed it " * 4
    head = "".join(f'{number},"{ascii_answer}",9\n' for number in range(1, 8_000))
    tail = "8000,快递三天还没到，客服也联系不上,2\n8001,安装师傅态度很好,10\n"
    path = tmp_path / "late.csv"
    path.write_bytes(("id,text,nps\n" + head + tail).encode(encoding))
    assert path.stat().st_size > 1.2 * (1 << 20)  # the Chinese is past the default sample
    stream = iter_path(path)
    items = list(stream)
    assert stream.report["encoding"] == expected
    assert [(item.id, item.text) for item in items[-2:]] == [
        ("8000", "快递三天还没到，客服也联系不上"),
        ("8001", "安装师傅态度很好"),
    ]


def test_a_late_gbk_transcript_and_a_late_bad_byte_naming_its_line(tmp_path: Path) -> None:
    ascii_call = "Agent: hello, this is the after-sales follow-up call\nCustomer: fine, thanks\n\n" * 16_000
    path = tmp_path / "calls.txt"
    path.write_bytes((ascii_call + "客服：您好\n客户：退款一直不到账\n").encode("gbk"))
    stream = iter_path(path)
    items = list(stream)
    assert stream.report["encoding"] == "gb18030"
    assert items[-1].text == "退款一直不到账"
    lines = ascii_call.count("\n")
    path.write_bytes((ascii_call + "客服：您好\n客户：退款").encode("gbk") + b"\x81\x20\n" + "客户：好".encode("gbk"))
    with pytest.raises(InputError) as caught:
        list(iter_path(path))
    assert (caught.value.location.row, "undecodable byte 0x81" in caught.value.message) == (lines + 2, True)


LONG = 20_000  # past the inference sample (10,000 rows) and, in bytes, past the encoding sample


def _long_csv(bad_row: str) -> bytes:
    rows = [f"{number},{ANSWERS[number % len(ANSWERS)]},{number % 11}\n" for number in range(1, LONG + 1)]
    rows[LONG - 10] = bad_row
    return ("编号,回答,NPS\n" + "".join(rows)).encode("utf-8")


def _long_jsonl(bad_line: str) -> bytes:
    lines = [json.dumps({"id": n, "回答": ANSWERS[n % len(ANSWERS)]}, ensure_ascii=False) for n in range(1, LONG + 1)]
    lines[LONG - 10] = bad_line
    return "\n".join(lines).encode("gb18030")


@pytest.mark.parametrize(
    ("name", "data", "field", "message"),
    [
        ("long.csv", _long_csv('19991,"退款"一直不到账,3\n'), "回答", "malformed CSV"),
        ("long.csv", _long_csv("19991,退款一直不到账,3,多出来的\n"), "column 4", "row has 4 fields"),
        ("long.jsonl", _long_jsonl('{"id": 19991, "回答": "退款一直不到账"'), None, "malformed JSON line"),
        ("long.jsonl", _long_jsonl('["客服", "您好"]'), None, "expected a JSON object per line"),
    ],
)
def test_an_error_deep_in_a_long_file_names_its_row_after_the_rows_before_it(
    name: str, data: bytes, field: str | None, message: str
) -> None:
    stream = iter_bytes(data, name)
    read = 0
    with pytest.raises(InputError) as caught:
        for _ in stream:
            read += 1
    assert (caught.value.location.file, caught.value.location.row) == (name, LONG - 9 + (name == "long.csv"))
    assert caught.value.location.field == field
    assert message in caught.value.message
    assert read > LONG - 100  # the rows before it were read, one at a time, first


def test_a_non_object_deep_in_a_json_array_names_its_element() -> None:
    elements = [{"id": n, "text": ANSWERS[n % len(ANSWERS)]} for n in range(1, LONG + 1)]
    data = json.dumps([*elements[:15_000], "客服：您好", *elements[15_000:]], ensure_ascii=False).encode()
    with pytest.raises(InputError) as caught:
        list(iter_bytes(data, "answers.json"))
    assert caught.value.location.row == 15_001
    assert "element 15001" in caught.value.message


def test_the_stream_does_not_hold_the_items_it_gave() -> None:
    stream = iter_bytes(_long_csv("19991,退款一直不到账,3\n"), "long.csv")
    first = next(stream)
    assert first.text == ANSWERS[1]
    given = weakref.ref(first)
    del first
    count = 1 + sum(1 for _ in stream)
    gc.collect()
    assert given() is None
    assert count == stream.report["items"] == LONG


def test_a_closed_stream_gives_nothing_more_and_a_repeated_id_gets_the_next_free_suffix() -> None:
    lines = [{"id": "c1", "turns": [{"speaker": "客户", "text": text}]} for text in ANSWERS[:3]]
    lines.append({"id": "c1#2", "turns": [{"speaker": "客户", "text": "退款一直不到账"}]})
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    assert [item.id for item in read_bytes(data, "calls.jsonl").items] == ["c1", "c1#2", "c1#3", "c1#2#2"]
    with iter_bytes(data, "calls.jsonl") as stream:
        assert next(stream).id == "c1"
        assert not stream.exhausted and stream.report["format"] == "transcript-jsonl"
    assert list(stream) == []


def test_unsupported_types_are_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unsupported file type"):
        iter_path(tmp_path / "report.pdf")
    with pytest.raises(InputError, match="can only hold survey"):
        iter_path(tmp_path / "s.csv", kind="transcript")
    missing = iter_path(tmp_path / "missing.csv")  # opened on the first item asked for
    with pytest.raises(InputError, match="cannot read the file"):
        next(missing)
