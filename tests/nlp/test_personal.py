"""Personal data outside the answer text: metadata fields by name and value, messages, log lines."""

from __future__ import annotations

import logging

import pytest

from nlp.config import PipelineConfig, RedactionConfig
from nlp.errors import Location, RowProblem
from nlp.ner import PersonNameFinder
from nlp.personal import ScrubbingFilter, field_kind, protected_fields, redact_meta, scrub
from nlp.pipeline import Pipeline, build_pipeline
from nlp.redact import Redactor
from nlp.schema import Item, Turn


@pytest.fixture(scope="module")
def names() -> Redactor:
    return Redactor(RedactionConfig(), names=PersonNameFinder())


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(PipelineConfig())


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("联系电话", "phone"),
        ("手机号码", "phone"),
        ("联系人电话", "phone"),
        ("customer_phone", "phone"),
        ("客户姓名", "person_name"),
        ("收货人", "person_name"),
        ("身份证号", "id_card"),
        ("邮箱", "email"),
        ("E-mail", "email"),
        ("收货地址", "address"),
        ("银行卡号", "bank_card"),
        ("会员编号", "customer_id"),
        ("customerId", "customer_id"),
        # The business's own fields are not personal by name.
        ("备注", None),
        ("hotel", None),
        ("订单号码", None),
        ("产品名称", None),
        ("tier", None),
        ("region", None),
    ],
)
def test_fields_are_classified_by_their_name(name: str, kind: str | None) -> None:
    assert field_kind(name) == kind


def test_personal_fields_become_placeholders_and_free_text_is_redacted(names: Redactor) -> None:
    meta = {
        "tier": "钻石",
        "region": "华东",
        "联系电话": "13812345678",
        "客户姓名": "张伟",
        "备注": "请发到zhang.wei@example.com，卡号6222021234567890128",
        "会员号": "VIP-00731",
        "extra": {"phone": "13900001111", "notes": ["身份证11010519491231002X"]},
        "金额": 13812345678,
    }
    out = redact_meta(meta, names)
    assert out.meta["tier"] == "钻石" and out.meta["region"] == "华东"
    assert (
        out.meta["联系电话"] == "[手机号]" and out.meta["客户姓名"] == "[姓名]" and out.meta["会员号"] == "[客户编号]"
    )
    assert out.meta["备注"] == "请发到[邮箱]，卡号[银行卡]"
    assert out.meta["extra"] == {"phone": "[手机号]", "notes": ["身份证[身份证]"]}
    assert out.meta["金额"] == "[手机号]", "a phone read from a spreadsheet as a number"
    assert list(out.meta) == list(meta), "the fields keep their order"
    flat = repr(out.meta)
    for planted in ("13812345678", "张伟", "zhang.wei", "6222021234567890128", "13900001111", "11010519491231002X"):
        assert planted not in flat
    assert out.counts["phone"] >= 2 and out.counts["email"] == 1


def test_only_the_kept_identifiers_are_handed_out_raw() -> None:
    meta = {"联系电话": " 13812345678 ", "客户姓名": "张伟", "会员号": "VIP-00731", "邮箱": "a@b.cn", "tier": "钻石"}
    assert protected_fields(meta, RedactionConfig()) == {"联系电话": "13812345678", "会员号": "VIP-00731"}
    assert protected_fields(meta, RedactionConfig(kept_fields=())) == {}


def test_the_pipeline_redacts_metadata_and_never_serialises_the_kept_values(pipeline: Pipeline) -> None:
    survey = Item(
        id="P1",
        kind="survey",
        text="我是张伟，快递太慢了",
        meta={"联系电话": "13812345678", "客户姓名": "张伟", "tier": "钻石"},
    )
    call = Item(
        id="C1",
        kind="transcript",
        text="",
        turns=(Turn("customer", "东西坏了"),),
        meta={"phone": "13900001111", "name": "李娜", "region": "华南"},
    )
    first, second = pipeline.pipe([survey, call])
    assert first.meta == {"联系电话": "[手机号]", "客户姓名": "[姓名]", "tier": "钻石"}
    assert "张伟" not in first.text
    assert first.protected == {"联系电话": "13812345678"}
    assert second.meta == {"phone": "[手机号]", "name": "[姓名]", "region": "华南"}
    assert second.protected == {"phone": "13900001111"}
    for result in (first, second):
        shown = repr(result) + repr(result.to_dict())
        assert "13812345678" not in shown and "13900001111" not in shown and "李娜" not in shown


def test_row_errors_do_not_repeat_a_personal_value() -> None:
    phone = RowProblem(Location("回访.csv", 3, "日期"), "unrecognised date '13812345678' (expected e.g. 2026-11-02)")
    assert "13812345678" not in str(phone) and "[手机号]" in str(phone)
    name = RowProblem(Location("回访.csv", 4, "日期"), "unrecognised date '张伟'; field left out (column '日期')")
    assert name.to_dict()["message"] == "unrecognised date '[姓名]'; field left out (column '日期')"
    assert RowProblem(Location("a.csv", 2, "nps"), "score 'abc' is not a number").message.endswith(
        "'abc' is not a number"
    )


def test_log_lines_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("kesheng.test.personal")
    caplog.handler.addFilter(ScrubbingFilter())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("call back %s at %s", "客户", "13812345678")
        logger.info("mail zhang.wei@example.com")
    assert "13812345678" not in caplog.text and "zhang.wei@example.com" not in caplog.text
    assert "[手机号]" in caplog.text and "[邮箱]" in caplog.text
    assert scrub("batch 3 done: 12 items") == "batch 3 done: 12 items"
