from __future__ import annotations

import pytest

from nlp.errors import InputError
from nlp.readers.encoding import decode_bytes, parse_json_lines, split_lines

SURVEY = "编号,回答,满意度\n1,快递三天还没到,2\n2,退款一直不到账，客服也不回,1\n3,安装师傅态度很好,5\n"
TRADITIONAL = "客戶等級,產品線,滿意度\n金卡,淨水器,非常滿意，安裝師傅態度很好\n銀卡,空氣淨化器,退款一直不到賬\n"


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (SURVEY.encode("utf-8"), SURVEY, "utf-8"),
        (b"\xef\xbb\xbf" + SURVEY.encode("utf-8"), SURVEY, "utf-8-sig"),
        (SURVEY.encode("gbk"), SURVEY, "gb18030"),
        ("客户：𠮷野家的外卖洒了\n".encode("gb18030"), "客户：𠮷野家的外卖洒了\n", "gb18030"),
        (TRADITIONAL.encode("big5"), TRADITIONAL, "big5"),
        (TRADITIONAL.encode("gb18030"), TRADITIONAL, "gb18030"),
        (SURVEY.encode("utf-16"), SURVEY, "utf-16"),
        ("客服：您好\r\n客户：快递太慢了\r\n".encode(), "客服：您好\r\n客户：快递太慢了\r\n", "utf-8"),
    ],
)
def test_decodes_and_names_the_encoding(data: bytes, text: str, encoding: str) -> None:
    assert decode_bytes(data, "in.csv") == (text, encoding)


@pytest.mark.parametrize(
    ("data", "row", "message"),
    [
        (b"", None, "empty"),
        (b"\xef\xbb\xbf \r\n\n", None, "empty"),
        (bytes(range(256)) * 8, 2, "undecodable byte"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", 1, "xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00", None, ".xls"),
        ("id,text\n1,快递\n2,好".encode() + b"\x00\x00\x00\x00", 3, "binary"),
        # UTF-8 text damaged on line 3 must not be read as GB18030 nonsense.
        (SURVEY.encode("utf-8").replace("退款".encode(), b"\xe9\x80"), 3, "UTF-8 text with an invalid byte"),
        # GBK text with one byte that is not GBK on line 3: the error points at that line.
        ("编号,回答\n1,快递三天还没到\n".encode("gbk") + b"2,\x81\x20", 3, "undecodable byte 0x81"),
    ],
)
def test_rejects_empty_binary_and_undecodable_input(data: bytes, row: int | None, message: str) -> None:
    with pytest.raises(InputError) as caught:
        decode_bytes(data, "upload.csv")
    assert caught.value.location.file == "upload.csv"
    if row is not None:
        assert caught.value.location.row == row
    assert message in str(caught.value)


def test_a_stray_control_character_in_text_is_kept() -> None:
    text = "客户：快递三天还没到" * 20 + "\x1a\n"
    assert decode_bytes(text.encode(), "a.txt")[0] == text


def test_json_lines_with_blank_lines_keep_their_line_numbers() -> None:
    text = '{"id": "c1", "turns": []}\n\n{"id": "c2", "text": "退款一直不到账"}\n'
    assert parse_json_lines(text, "a.jsonl") == [
        (1, {"id": "c1", "turns": []}),
        (3, {"id": "c2", "text": "退款一直不到账"}),
    ]


@pytest.mark.parametrize(
    ("text", "row", "message"),
    [
        ('{"id": "c1"}\n{"id": "c2", "turns": [}\n{"id": "c3"}\n', 2, "malformed JSON line"),
        ('{"id": "c1"}\n["客服", "您好"]\n', 2, "got list"),
        ('{"id": "c1"}\n{"id": "c2", "text": "快递太慢了\n', 2, "malformed JSON line"),
        ('[{"id": "s1"}, "快递太慢了"]', 2, "element 2"),
    ],
)
def test_malformed_json_rejects_the_file_naming_the_line(text: str, row: int, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_json_lines(text, "calls.jsonl")
    assert (caught.value.location.file, caught.value.location.row) == ("calls.jsonl", row)
    assert message in caught.value.message


def test_a_json_array_or_one_pretty_object_is_accepted() -> None:
    array = '[{"id": "s1", "text": "快递太慢了"},\n {"id": "s2", "text": "师傅很专业"}]'
    assert [row for row, _ in parse_json_lines(array, "a.json")] == [1, 2]
    pretty = '{\n  "id": "c1",\n  "turns": [{"speaker": "客户", "text": "快递太慢了"}]\n}\n'
    assert parse_json_lines(pretty, "a.json")[0][1]["id"] == "c1"


def test_split_lines_keeps_line_separators_that_may_stand_inside_text() -> None:
    assert split_lines("客户：第一句\u2028还是第一句\r\n客服：好的\r最后") == [
        "客户：第一句\u2028还是第一句",
        "客服：好的",
        "最后",
    ]
