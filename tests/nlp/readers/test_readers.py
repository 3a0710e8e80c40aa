"""The package surface: format by extension, `kind` forcing, encodings, report, whole-file rejection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp.errors import InputError
from nlp.readers import read_bytes, read_path

CALL = {
    "id": "c1",
    "turns": [{"speaker": "客服", "text": "您好"}, {"speaker": "客户", "text": "快递三天还没到"}],
}
ANSWER = {"id": "s1", "回答": "退款一直不到账", "推荐度": 2}
TEXT_CALL = "# id=t1 渠道=电话\n客服：您好，这里是售后回访\n客户：安装师傅态度很好\n"


@pytest.mark.parametrize(
    ("data", "name", "fmt", "kind"),
    [
        (json.dumps(CALL, ensure_ascii=False).encode(), "calls.jsonl", "transcript-jsonl", "transcript"),
        (json.dumps([CALL], ensure_ascii=False).encode(), "calls.json", "transcript-jsonl", "transcript"),
        (json.dumps(ANSWER, ensure_ascii=False).encode(), "answers.jsonl", "survey-jsonl", "survey"),
        (TEXT_CALL.encode(), "calls.txt", "transcript-text", "transcript"),
        (TEXT_CALL.encode(), "CALLS.TXT", "transcript-text", "transcript"),
        ("回答\n快递太慢了\n".encode(), "s.csv", "survey-csv", "survey"),
        ("回答\n快递太慢了\n".encode(), "s.tsv", "survey-csv", "survey"),
    ],
)
def test_format_follows_extension_and_content(data: bytes, name: str, fmt: str, kind: str) -> None:
    outcome = read_bytes(data, name)
    assert outcome.report["format"] == fmt
    assert outcome.report["file"] == name
    assert [item.kind for item in outcome.items] == [kind]
    assert {"file", "format", "encoding", "columns", "rows"} <= set(outcome.report)


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (TEXT_CALL.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT_CALL.encode("utf-8"), "utf-8-sig"),
        (TEXT_CALL.encode("gbk"), "gb18030"),
    ],
)
def test_text_transcripts_in_every_encoding(encoded: bytes, encoding: str) -> None:
    outcome = read_bytes(encoded, "calls.txt")
    assert outcome.report["encoding"] == encoding
    assert (outcome.items[0].id, outcome.items[0].text, dict(outcome.items[0].meta)) == (
        "t1",
        "安装师傅态度很好",
        {"channel": "电话"},
    )


def test_kind_forces_a_jsonl_file_to_be_read_as_survey() -> None:
    record = {"id": "x1", "text": "客服回访很及时", "turns": "n/a"}
    data = json.dumps(record, ensure_ascii=False).encode()
    assert read_bytes(data, "a.jsonl").report["format"] == "transcript-jsonl"
    outcome = read_bytes(data, "a.jsonl", kind="survey")
    assert outcome.report["format"] == "survey-jsonl"
    assert outcome.items[0].text == "客服回访很及时"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("calls.txt", "survey"), ("s.csv", "transcript"), ("s.xlsx", "transcript")],
)
def test_kind_that_the_format_cannot_hold_is_an_input_error(name: str, kind: str) -> None:
    with pytest.raises(InputError) as caught:
        read_bytes(TEXT_CALL.encode(), name, kind=kind)  # type: ignore[arg-type]
    assert caught.value.location.file == name


@pytest.mark.parametrize("name", ["report.pdf", "calls", "survey.xls"])
def test_unsupported_extensions_are_rejected(name: str) -> None:
    with pytest.raises(InputError, match="unsupported file type"):
        read_bytes(TEXT_CALL.encode(), name)


@pytest.mark.parametrize("name", ["calls.txt", "calls.jsonl", "s.csv"])
def test_binary_garbage_rejects_the_whole_input(name: str) -> None:
    with pytest.raises(InputError) as caught:
        read_bytes(b"\x00\x17\xfe\xff\x81" * 13 + bytes(range(256)) * 4, name)
    assert caught.value.location.file == name


def test_empty_jsonl_is_an_input_error() -> None:
    with pytest.raises(InputError, match="empty"):
        read_bytes(b"\n\n", "calls.jsonl")


def test_read_path_reads_files_and_names_missing_ones(tmp_path: Path) -> None:
    path = tmp_path / "回访.txt"
    path.write_text("客户：快递三天还没到\n", encoding="gb18030")
    outcome = read_path(path)
    assert outcome.items[0].id == "回访-1"
    assert outcome.items[0].source == f"{path}:1"
    with pytest.raises(InputError) as caught:
        read_path(tmp_path / "missing.csv")
    assert caught.value.location.file.endswith("missing.csv")


def test_windows_upload_names_give_a_clean_stem() -> None:
    outcome = read_bytes("客户：快递太慢了\n".encode(), "C:\\Users\\ops\\回访记录.txt")
    assert outcome.items[0].id == "回访记录-1"


def test_problems_come_sorted_by_row_with_report_counts() -> None:
    calls = [
        {"id": "c1", "turns": [{"speaker": "客户", "text": "快递太慢了"}]},
        {"id": "c1", "turns": [{"speaker": "坐席", "text": "您好"}]},
        {"id": "c1", "turns": [{"speaker": "顾客", "text": "退款一直不到账"}], "meta": {"date": "昨天"}},
    ]
    data = "\n".join(json.dumps(call, ensure_ascii=False) for call in calls).encode()
    outcome = read_bytes(data, "calls.jsonl")
    assert [item.id for item in outcome.items] == ["c1", "c1#2"]
    assert [(p.location.row, p.location.field) for p in outcome.problems] == [
        (2, "turns"),
        (3, "meta.date"),
        (3, "id"),
    ]
    assert (outcome.report["rows"], outcome.report["items"], outcome.report["problems"]) == (3, 2, 3)
