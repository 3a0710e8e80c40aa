"""Redaction: tables of real-looking customer-service text, what must be replaced and what must not."""

from __future__ import annotations

import pytest

from nlp.config import RedactionConfig
from nlp.ner import PersonNameFinder
from nlp.redact import Redacted, Redactor, find_personal_data, id_card_valid, luhn_valid

# Validated test numbers: 110101199003074258 and 31011519880811000X pass GB 11643; 6222020200112233446
# and 6228480012345671 pass Luhn (their neighbours …445 and …670 do not).


@pytest.fixture(scope="module")
def numbers_only() -> Redactor:
    return Redactor(RedactionConfig(person_names=False))


@pytest.fixture(scope="module")
def names() -> PersonNameFinder:
    return PersonNameFinder()


@pytest.fixture(scope="module")
def redactor(names: PersonNameFinder) -> Redactor:
    return Redactor(RedactionConfig(), names=names)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # mobile numbers: separators, country prefixes, full-width digits
        ("我的手机13812345678，尽快联系", "我的手机[手机号]，尽快联系"),
        ("电话：138-1234-5678", "电话：[手机号]"),
        ("打138 1234 5678找我", "打[手机号]找我"),
        ("+86 13912345678", "[手机号]"),
        ("联系方式+8613912345678", "联系方式[手机号]"),
        ("0086-139-1234-5678", "[手机号]"),
        ("(+86)13912345678", "[手机号]"),
        ("号码是１３８１２３４５６７８谢谢", "号码是[手机号]谢谢"),
        ("８６－１３８－１２３４－５６７８", "[手机号]"),
        # landlines, extensions, 400/800
        ("座机010-12345678", "座机[电话]"),
        ("(010)12345678", "[电话]"),
        ("打（0755）87654321转123吧", "打[电话]吧"),
        ("0571-87654321-8001", "[电话]"),
        ("客服热线400-820-8820", "客服热线[电话]"),
        ("800 810 8888", "[电话]"),
        # ID numbers: checksum-valid, X/x, separators, full-width, old 15-digit after an ID cue
        ("身份证110101199003074258", "身份证[身份证]"),
        ("证件31011519880811000X已上传", "证件[身份证]已上传"),
        ("31011519880811000x", "[身份证]"),
        ("110101 19900307 4258", "[身份证]"),
        ("１１０１０１１９９００３０７４２５８", "[身份证]"),
        ("身份证号码 110101900307425", "身份证号码 [身份证]"),
        # bank cards: Luhn-valid, contiguous or grouped
        ("退款到卡号6222020200112233446", "退款到卡号[银行卡]"),
        ("6228 4800 1234 5671", "[银行卡]"),
        ("6228-4800-1234-5671", "[银行卡]"),
        # a personal cue in the window beats an order word
        ("订单联系电话13812345678", "订单联系电话[手机号]"),
        # e-mail, also full-width
        ("发票发到zhang.wei@qq.com就行", "发票发到[邮箱]就行"),
        ("ｚｈａｎｇ＠１６３．ｃｏｍ", "[邮箱]"),
        ("13812345678@163.com", "[邮箱]"),
    ],
)
def test_personal_data_is_replaced(numbers_only: Redactor, text: str, expected: str) -> None:
    assert numbers_only(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "订单号 202611021234567890",
        "订单号202611021234567",
        "运单号 JD0012345678",
        "顺丰单号SF1234567890",
        "¥1299",
        "才299元",
        "一共1,299.00元",
        "2026-11-02到的货",
        "20261102下的单",
        "14:30送到",
        "型号KX-3000",
        "型号A5",
        "SKU 100012345678",
        "验证码 123456",
        "第3期，共12期",
        # Luhn-valid numbers after order/waybill words are order numbers
        "订单号202611021234567898",
        "订单号：6228480012345671",
        "SKU 6228480012345671",
        "快递单 6228480012345671",
        # a mobile-shaped order number
        "订单号13812345678",
        # checks that fail
        "110101199003074257",  # wrong check digit
        "110101199013074251",  # right check digit, month 13
        "6222020200112233445",  # Luhn-invalid
        "6228480012345670",
        # phone-shaped runs inside longer digit runs or codes
        "1381234567890",
        "20261102138123456789",
        "JD13812345678",
    ],
)
def test_look_alikes_are_kept(numbers_only: Redactor, text: str) -> None:
    assert numbers_only(text) == Redacted(text, {})


def test_counts_each_kind(numbers_only: Redactor) -> None:
    text = "我叫什么不重要，电话13812345678，身份证110101199003074258，邮箱a@b.cn，再打13912345678"
    result = numbers_only(text)
    assert result.counts == {"phone": 2, "id_card": 1, "email": 1}
    assert result.text == "我叫什么不重要，电话[手机号]，身份证[身份证]，邮箱[邮箱]，再打[手机号]"


def test_spans_index_the_original_text() -> None:
    text = "电话１３８１２３４５６７８，卡6222020200112233446"
    spans = find_personal_data(text)
    assert [(text[s:e], kind) for s, e, kind in spans] == [
        ("１３８１２３４５６７８", "phone"),
        ("6222020200112233446", "bank_card"),
    ]


@pytest.mark.parametrize(
    ("number", "valid"),
    [("110101199003074258", True), ("31011519880811000X", True), ("110101199003074257", False)],
)
def test_id_card_checksum(number: str, valid: bool) -> None:
    assert id_card_valid(number) is valid


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("6222020200112233446", True), ("6228480012345671", True), ("6228480012345670", False)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_order_context_words_come_from_config() -> None:
    text = "合同号6228480012345671"
    assert Redactor(RedactionConfig(person_names=False))(text).text == "合同号[银行卡]"
    custom = RedactionConfig(person_names=False, order_context_words=("合同号",))
    assert Redactor(custom)(text).text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("张伟在吗", "[姓名]在吗"),
        ("我是李娜，订单还没到", "我是[姓名]，订单还没到"),
        ("王女士您好，这里是京东客服回访", "[姓名]女士您好，这里是京东客服回访"),
        ("欧阳先生您好", "[姓名]先生您好"),
        ("快递员小李态度很差", "快递员[姓名]态度很差"),
        ("配送员:张盼盼，电话:13306202786", "配送员:[姓名]，电话:[手机号]"),
        ("张家界的风景很好", "张家界的风景很好"),
        ("小米手机用了两天就坏了", "小米手机用了两天就坏了"),
        ("京东的物流真快", "京东的物流真快"),
        ("李宁的鞋子质量不错", "李宁的鞋子质量不错"),
        ("好的谢谢先生", "好的谢谢先生"),
        ("恩 好的", "恩 好的"),
    ],
)
def test_person_names(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor(text).text == expected


def test_redacting_twice_changes_nothing(redactor: Redactor) -> None:
    once = redactor("王女士您好，您的电话13812345678，张伟已经帮您登记")
    assert once.counts == {"person_name": 2, "phone": 1}
    assert redactor(once.text) == Redacted(once.text, {})


def test_names_are_skipped_when_config_says_so(names: PersonNameFinder) -> None:
    off = Redactor(RedactionConfig(person_names=False), names=names)
    assert off("张伟在吗，电话13812345678").text == "张伟在吗，电话[手机号]"


def test_pipe_matches_call_in_order_across_batches(redactor: Redactor) -> None:
    texts = ["张伟在吗", "电话13812345678", "", "hello 13812345678", "张伟在吗", "王女士您好"]
    assert list(redactor.pipe(texts, batch_size=4)) == [redactor(t) for t in texts]
