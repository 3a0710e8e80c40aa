from __future__ import annotations

import json
from typing import Any

import pytest

from nlp.errors import InputError
from nlp.readers import ReadOutcome, read_bytes
from nlp.schema import Turn


def _jsonl(*records: Any) -> bytes:
    return "\n".join(json.dumps(record, ensure_ascii=False) for record in records).encode("utf-8")


def _read(*records: Any, columns: dict[str, str] | None = None) -> ReadOutcome:
    return read_bytes(_jsonl(*records), "calls.jsonl", columns=columns)


def _where(outcome: ReadOutcome) -> list[tuple[int | None, str | None]]:
    return [(p.location.row, p.location.field) for p in outcome.problems]


CANONICAL = {
    "id": "c1",
    "turns": [
        {"speaker": "agent", "text": "您好，这里是净水器售后回访", "start": 0, "end": 2.5},
        {"speaker": "customer", "text": "快递太慢了，三天还没到", "start": 3, "end": 6},
        {"speaker": "agent", "text": "非常抱歉，我马上帮您催"},
        {"speaker": "customer", "text": "安装师傅态度倒是很好"},
    ],
    "meta": {"tier": "gold", "channel": "phone", "region": "華東", "product": "净水器", "date": "2026-11-02"},
}


def test_canonical_call() -> None:
    outcome = _read(CANONICAL)
    assert outcome.problems == []
    (item,) = outcome.items
    assert (item.id, item.kind, item.source) == ("c1", "transcript", "calls.jsonl:1")
    assert item.text == "快递太慢了，三天还没到\n安装师傅态度倒是很好"
    assert item.turns[0] == Turn("agent", "您好，这里是净水器售后回访", 0.0, 2.5)
    assert item.turns[1] == Turn("customer", "快递太慢了，三天还没到", 3.0, 6.0)
    assert dict(item.meta) == {
        "tier": "gold",
        "channel": "phone",
        "region": "华东",
        "product": "净水器",
        "date": "2026-11-02",
    }
    assert outcome.report == {
        "file": "calls.jsonl",
        "format": "transcript-jsonl",
        "encoding": "utf-8",
        "rows": 1,
        "columns": {},
        "items": 1,
        "problems": 0,
    }


@pytest.mark.parametrize(
    ("label", "speaker"),
    [
        ("客服", "agent"),
        ("坐席", "agent"),
        ("人工客服", "agent"),
        ("售后", "agent"),
        ("AGENT", "agent"),
        ("服务人员", "agent"),
        ("顾客", "customer"),
        ("客户", "customer"),
        ("客戶", "customer"),
        ("用户", "customer"),
        ("買家", "customer"),
        ("Customer", "customer"),
    ],
)
def test_speaker_synonyms_are_normalised(label: str, speaker: str) -> None:
    record = {
        "id": "c2",
        "turns": [{"speaker": label, "text": "退款一直不到账"}, {"speaker": "客户", "text": "嗯"}],
    }
    assert _read(record).items[0].turns[0].speaker == speaker


def test_missing_id_uses_file_stem_and_line() -> None:
    outcome = read_bytes(b"\n" + _jsonl({"turns": [{"speaker": "customer", "text": "快递太慢了"}]}), "x/回访.jsonl")
    assert outcome.items[0].id == "回访-2"
    assert outcome.items[0].source == "x/回访.jsonl:2"


def test_bad_turns_and_meta_are_reported_and_the_call_kept() -> None:
    record = {
        "id": "c3",
        "turns": [
            {"speaker": "机器人", "text": "请按1"},
            {"speaker": "客服", "text": ""},
            {"speaker": "客户", "text": "退款一直不到账", "start": "一分钟"},
            {"speaker": "客户", "text": "都一个星期了", "start": 20, "end": 10},
            "客服：好的",
        ],
        "meta": {"date": "上个月", "nps": 11, "tier": "金卡"},
    }
    outcome = _read(record)
    assert _where(outcome) == [
        (1, "turns[0].speaker"),
        (1, "turns[1].text"),
        (1, "turns[2].start"),
        (1, "turns[3].end"),
        (1, "turns[4]"),
        (1, "meta.date"),
        (1, "meta.nps"),
    ]
    (item,) = outcome.items
    assert item.turns == (Turn("customer", "退款一直不到账"), Turn("customer", "都一个星期了", 20.0))
    assert dict(item.meta) == {"tier": "金卡"}


def test_calls_without_usable_customer_text_are_reported_not_items() -> None:
    outcome = _read(
        {"id": "a", "turns": [{"speaker": "客服", "text": "您好，请问在吗"}]},
        {"id": "b", "turns": []},
        {"id": "c", "turns": "客户：快递太慢了"},
        {"id": "d", "meta": {"tier": "gold"}},
        {"id": "e", "turns": [{"speaker": "客户", "text": "安装师傅态度很好"}]},
    )
    assert [item.id for item in outcome.items] == ["e"]
    assert _where(outcome) == [(1, "turns"), (2, "turns"), (3, "turns"), (4, "turns")]
    assert outcome.report["rows"] == 5


def test_duplicate_ids_are_kept_with_a_suffix_and_reported() -> None:
    turn = [{"speaker": "客户", "text": "快递太慢了"}]
    outcome = _read({"id": "c1", "turns": turn}, {"id": "c1", "turns": turn}, {"id": "c1", "turns": turn})
    assert [item.id for item in outcome.items] == ["c1", "c1#2", "c1#3"]
    assert _where(outcome) == [(2, "id"), (3, "id")]


def test_meta_beside_turns_and_synonym_keys_are_canonical() -> None:
    record = {
        "call_id": 42,
        "客户等级": "金卡",
        "text": "用户：滤芯漏水",
        "turns": [{"role": "用户", "content": "滤芯漏水"}],
        "meta": {"產品線": "淨水器"},
    }
    item = _read(record).items[0]
    assert item.id == "42"
    assert dict(item.meta) == {"product": "净水器", "tier": "金卡"}


def test_given_mapping_renames_meta_keys() -> None:
    record = {"id": "c1", "turns": [{"speaker": "客户", "text": "快递太慢了"}], "meta": {"会员级别": "钻石"}}
    assert dict(_read(record, columns={"tier": "会员级别"}).items[0].meta) == {"tier": "钻石"}


def test_malformed_line_rejects_the_whole_file() -> None:
    data = _jsonl(CANONICAL) + '\n{"id": "c2", "turns": [{"speaker": "客户", "text": "快递\n'.encode()
    with pytest.raises(InputError) as caught:
        read_bytes(data, "calls.jsonl")
    assert (caught.value.location.file, caught.value.location.row) == ("calls.jsonl", 2)
