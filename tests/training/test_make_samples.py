"""Tests for training/make_samples.py (with sample_calls and sample_config): the bundled demo sample and
how it is made."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path
from statistics import mean

import pytest

from training.make_samples import SURVEY_HEADER, Review, SurveyAnswer, build_survey, load_reviews, main, make_samples
from training.sample_calls import (
    TXT_STYLES,
    Call,
    ChatTurn,
    infer_chat_product,
    is_usable_chat,
    load_chats,
    normalise_chat_text,
    select_calls,
)
from training.sample_config import SampleConfig

REPO = Path(__file__).parents[2]
SHARED = REPO.parent / "shared" / "data"
needs_data = pytest.mark.skipif(not SHARED.is_dir(), reason="public data sets (../shared/data) not present")

CFG = SampleConfig()
FIRST_DAY, LAST_DAY = date(2026, 9, 7), date(2026, 11, 15)
PLANTED_START = date(2026, 11, 2)
TIERS, REGIONS = {"钻石", "黄金", "白银", "基础"}, {"华东", "华南", "华北", "华中", "西南", "西北", "东北"}
CHANNELS = {"电话回访", "在线客服", "APP", "微信"}
AGENT_LABELS = {agent for agent, _ in TXT_STYLES}
LABELS = sorted({label for style in TXT_STYLES for label in style})
TXT_LINE = re.compile(r"^(?:\[(\d{2}):(\d{2}):(\d{2})\] )?(" + "|".join(map(re.escape, LABELS)) + r")(.*)$")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "[订单x]还请您稍等，正在为您查询~ 过程大概需要[数字x]-[数字x]天.",
            "[订单号]还请您稍等，正在为您查询~ 过程大概需要[数字]-[数字]天.",
        ),
        ("[订单编号:[订单x]，订单金额:[金额x]，下单时间:[日期x] [时间x]]", "[订单信息]"),
        (
            "我都不敢从京东买东西了 是啊 顾客通过点击web咚咚[站点x]信息发送:"
            "[订单编号:[订单x]，订单金额:[金额x]，下单时间:[日期x] [时间x]]",
            "我都不敢从京东买东西了 是啊 [订单信息]",
        ),
        ("[订单编号:[数字x]，订单金额:，下单时间:]", "[订单信息]"),
        ("我会继续给您解决哒#E 顺祝您阖府安康[地址x]", "我会继续给您解决哒 顺祝您阖府安康[地址]"),
        ("非常感谢~(&gt;^ω^&lt;)~", "非常感谢~(>^ω^<)~"),
        ("[数字x][USERID_[数字x]][数字x]", "[数字][用户ID][数字]"),
        ("还请您提供下[身份证号x]和[组织机构x]的名称", "还请您提供下[身份证]和[机构]的名称"),
        ("大容量明火高汤煲 [数字x][数字x]L   红色", "大容量明火高汤煲 [数字]L 红色"),
        ("  我昨天拍了   拍的时候是显示有现货的  ", "我昨天拍了 拍的时候是显示有现货的"),
        ("#E", ""),
    ],
)
def test_normalise_chat_text(raw: str, expected: str) -> None:
    assert normalise_chat_text(raw) == expected


@pytest.mark.parametrize(
    ("texts", "product"),
    [
        (["我问下，我买的那个手机壳现在能不能退货了"], "手机"),
        (["还请您保持手机畅通哦", "您可在手机端打开我的订单"], "其他"),
        (["这个大家电是要预约的哦亲", "空调什么时候能装"], "家电"),
        (["这次买书的，我买的都是儿童书，你给我购物清单"], "图书"),
        (["显示器有亮点", "我的电脑一直黑屏"], "电脑"),
        (["这个羽绒服尺码偏小能换吗"], "服饰"),
        (["我想取消订单 怎么处理么 直接拒收可以吗"], "其他"),
    ],
)
def test_infer_chat_product(texts: list[str], product: str) -> None:
    turns = [ChatTurn("customer", t) for t in texts]
    assert infer_chat_product(turns) == product


def test_load_chats_merges_same_speaker_and_drops_empty_lines(tmp_path: Path) -> None:
    rows = [
        ("0000b82c62117aa4497508bb1bdfb53a", "0", "人工客服 京东快递(移动端) 你好"),
        ("0000b82c62117aa4497508bb1bdfb53a", "1", "有什么问题我可以帮您处理或解决呢?"),
        ("0000b82c62117aa4497508bb1bdfb53a", "1", "#E"),
        ("0000b82c62117aa4497508bb1bdfb53a", "1", "请问是[订单x]这个订单吗"),
        ("0000b82c62117aa4497508bb1bdfb53a", "0", "地址可以帮我修改下吗"),
        (
            "0000b82c62117aa4497508bb1bdfb53a",
            "0",
            "[订单编号:[订单x]，订单金额:[金额x]，下单时间:[日期x] [时间x]]",
        ),
        ("0000b82c62117aa4497508bb1bdfb53a", "1", "抱歉，新旧地址不在同城市无法操作转站点再投的"),
        ("0032cff78a24ccc6de0d596725a3b11c", "1", "有什么问题我可以帮您处理或解决呢?"),
        ("0032cff78a24ccc6de0d596725a3b11c", "1", "请问还有其他还可以帮到您的吗?"),
    ]
    path = tmp_path / "chat.tsv"
    path.write_text("".join(f"{s}\tUSERID_1\t{a}\t0\t0\tnan\t{t}\n" for s, a, t in rows), encoding="utf-8")
    sessions = load_chats(path)
    assert sessions["0000b82c62117aa4497508bb1bdfb53a"] == [
        ChatTurn("customer", "人工客服 京东快递(移动端) 你好"),
        ChatTurn("agent", "有什么问题我可以帮您处理或解决呢? 请问是[订单号]这个订单吗"),
        ChatTurn("customer", "地址可以帮我修改下吗 [订单信息]"),
        ChatTurn("agent", "抱歉，新旧地址不在同城市无法操作转站点再投的"),
    ]
    assert is_usable_chat(sessions["0000b82c62117aa4497508bb1bdfb53a"], CFG.min_turns)
    # Two agent lines make one turn and no customer turn: not usable.
    assert not is_usable_chat(sessions["0032cff78a24ccc6de0d596725a3b11c"], CFG.min_turns)


def test_load_chats_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.tsv"
    path.write_text("abc\tUSERID_1\t0\t0\t0\tnan\t你好\nabc\t0\t你好\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"chat\.tsv:2: expected 7"):
        load_chats(path)


# ---------------------------------------------------------------- with the public data


@dataclass
class TxtCall:
    header: dict[str, str]
    turns: list[ChatTurn] = field(default_factory=list)
    clocks: list[int] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    continuation_lines: int = 0


def parse_txt(text: str) -> tuple[list[TxtCall], list[str]]:
    """A minimal reader of the plain-text format, enough to check what the writer produced."""
    calls: list[TxtCall] = []
    separators: list[str] = []
    for line in text.split("\n")[:-1]:
        if line.startswith("# "):
            calls.append(TxtCall(dict(item.split("=", 1) for item in line[2:].split())))
        elif line in ("", "---"):
            separators.append(line)
        elif match := TXT_LINE.match(line):
            hours, minutes, seconds, label, turn_text = match.groups()
            speaker = "agent" if label in AGENT_LABELS else "customer"
            calls[-1].turns.append(ChatTurn(speaker, turn_text))
            calls[-1].labels.add(label)
            if hours is not None:
                calls[-1].clocks.append(int(hours) * 3600 + int(minutes) * 60 + int(seconds))
        else:
            last = calls[-1].turns[-1]
            calls[-1].turns[-1] = ChatTurn(last.speaker, f"{last.text} {line}")
            calls[-1].continuation_lines += 1
    return calls, separators


@pytest.fixture(scope="module")
def reviews() -> list[Review]:
    return load_reviews(SHARED, CFG)


@pytest.fixture(scope="module")
def calls() -> tuple[list[Call], list[Call]]:
    return select_calls(load_chats(SHARED / "transcripts" / "jddc_chat_sample.tsv"), 30, 10, CFG)


@pytest.fixture(scope="module")
def full_survey(reviews: list[Review]) -> list[SurveyAnswer]:
    return build_survey(reviews, CFG.n_answers, CFG)


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("sample")
    make_samples(SHARED, out, n_calls=30, n_txt_calls=10, n_answers=400)
    yield out


@needs_data
def test_running_twice_gives_identical_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_samples(SHARED, tmp_path / name, n_calls=5, n_txt_calls=4, n_answers=50)
    for file in ("calls.jsonl", "calls.txt", "survey.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    make_samples(SHARED, tmp_path / "c", SampleConfig(seed=7), n_calls=5, n_txt_calls=4, n_answers=50)
    assert (tmp_path / "c" / "survey.csv").read_bytes() != (tmp_path / "a" / "survey.csv").read_bytes()


@needs_data
def test_jsonl_calls_have_the_canonical_structure(small_sample: Path) -> None:
    lines = (small_sample / "calls.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 30
    assert len({r["id"] for r in records}) == 30
    for record in records:
        assert re.fullmatch(r"jd-[0-9a-f]{8}", record["id"])
        speakers = [turn["speaker"] for turn in record["turns"]]
        assert set(speakers) <= {"agent", "customer"}
        assert "customer" in speakers
        assert len(speakers) >= 4
        assert all(a != b for a, b in pairwise(speakers)), record["id"]
        assert all(turn["text"].strip() == turn["text"] != "" for turn in record["turns"])
        meta = record["meta"]
        assert meta["tier"] in TIERS and meta["channel"] in CHANNELS and meta["region"] in REGIONS
        assert FIRST_DAY <= date.fromisoformat(meta["date"]) <= LAST_DAY
        assert "x]" not in json.dumps(record, ensure_ascii=False), "raw JDDC placeholder left"
    assert [r["meta"]["date"] for r in records] == sorted(r["meta"]["date"] for r in records)


@needs_data
def test_txt_calls_exercise_every_variant_and_read_back(
    small_sample: Path, calls: tuple[list[Call], list[Call]]
) -> None:
    jsonl_calls, txt_calls = calls
    parsed, separators = parse_txt((small_sample / "calls.txt").read_text(encoding="utf-8"))
    assert len(parsed) == 10
    assert separators == ["", "---"] * 4 + [""]
    assert {c.header["id"] for c in parsed}.isdisjoint(c.call_id for c in jsonl_calls)
    assert set().union(*(c.labels for c in parsed)) == set(LABELS)
    with_clock = [c for c in parsed if c.clocks]
    assert with_clock and all(c.clocks == sorted(set(c.clocks)) for c in with_clock)
    assert all(len(c.clocks) == len(c.turns) for c in with_clock)
    assert sum(c.continuation_lines for c in parsed) > 0
    for read, call in zip(parsed, txt_calls, strict=True):
        assert read.header == {"id": call.call_id, **call.meta}
        assert read.turns == list(call.turns)


@needs_data
def test_survey_has_promised_columns_and_no_labels(small_sample: Path) -> None:
    with (small_sample / "survey.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == SURVEY_HEADER == ("编号", "回答", "客户等级", "渠道", "区域", "产品线", "日期", "NPS评分")
    body = rows[1:]
    assert len(body) == 400 and all(len(row) == 8 for row in body)
    assert len({row[0] for row in body}) == 400
    for _, text, tier, channel, region, _, day, nps in body:
        assert 0 < len(text) <= CFG.max_review_chars and "\ufeff" not in text and "\n" not in text
        assert tier in TIERS and channel in CHANNELS and region in REGIONS
        assert FIRST_DAY <= date.fromisoformat(day) <= LAST_DAY
        assert 0 <= int(nps) <= 10


@needs_data
def test_survey_full_size_products_and_unique_texts(full_survey: list[SurveyAnswer]) -> None:
    assert len(full_survey) == 3000
    assert len({a.text for a in full_survey}) == 3000
    assert {a.product for a in full_survey} == {
        "图书", "平板", "手机", "水果", "洗发水", "热水器", "蒙牛", "衣服", "电脑", "酒店", "外卖",
    }  # fmt: skip


@needs_data
def test_nps_is_higher_for_positive_reviews(full_survey: list[SurveyAnswer]) -> None:
    positive = [a.nps for a in full_survey if a.positive]
    negative = [a.nps for a in full_survey if not a.positive]
    assert mean(positive) - mean(negative) > 4
    # Correlated, not a copy of the label: some overlap either way.
    assert any(n <= 6 for n in positive) and any(n >= 6 for n in negative)


@needs_data
def test_planted_pattern_is_present(full_survey: list[SurveyAnswer]) -> None:
    def in_cell(a: SurveyAnswer) -> bool:
        return a.product == "外卖" and a.region == "华东" and a.day >= PLANTED_START

    cell = [a for a in full_survey if in_cell(a)]
    rest = [a for a in full_survey if a.product == "外卖" and not in_cell(a)]
    assert [a.planted for a in full_survey] == [in_cell(a) for a in full_survey]
    assert len(cell) >= 80
    cell_negative = sum(not a.positive for a in cell) / len(cell)
    rest_negative = sum(not a.positive for a in rest) / len(rest)
    assert cell_negative > 0.65 and rest_negative < 0.45
    # Visible without labels too: detractors (NPS 0–6) are far more common in the cell.
    cell_detractors = sum(a.nps <= 6 for a in cell) / len(cell)
    rest_detractors = sum(a.nps <= 6 for a in rest) / len(rest)
    assert cell_detractors - rest_detractors > 0.25


@needs_data
def test_committed_sample_matches_the_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    committed = REPO / "data" / "samples"
    main(["--shared", str(SHARED), "--out", str(tmp_path)])
    assert "300 calls" in capsys.readouterr().out
    for file in ("calls.jsonl", "calls.txt", "survey.csv"):
        assert (tmp_path / file).read_bytes() == (committed / file).read_bytes(), file
    assert sum((committed / f).stat().st_size for f in ("calls.jsonl", "calls.txt", "survey.csv")) < 1_200_000
