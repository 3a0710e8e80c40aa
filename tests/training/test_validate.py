"""training.validate: every problem of a training file is found and named with file, row and field."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from training.pool import read_pool_tsv
from training.validate import (
    TrainingDataError,
    ValidationConfig,
    validate,
    write_clean_tsv,
)

GOOD = [
    (1, "送餐很快，味道不错"),
    (1, "客服很耐心，问题解决了"),
    (1, "净水器安装很专业"),
    (1, "房间干净，早餐丰富"),
    (0, "快递太慢了，一周还没到"),
    (0, "退款三天了还没到账"),
    (0, "电话打了十几次没人接"),
    (0, "用了两天就坏了"),
]
EVAL_TEXTS = [(1, "酒店位置好，交通方便"), (0, "商品和图片严重不符")]
LOOSE = ValidationConfig(min_rows=1, min_label_share=0.0)
# (row, field, kind) of each expected error
Expected = list[tuple[int | None, str | None, str]]


def tsv(path: Path, rows: Sequence[tuple[object, str]], header: str = "label\ttext") -> Path:
    path.write_text(header + "\n" + "".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    return path


@pytest.fixture
def evals(tmp_path: Path) -> dict[str, Path]:
    return {"chnsenticorp_test": tsv(tmp_path / "eval.tsv", list(EVAL_TEXTS))}


# (what is wrong, rows after the good ones (or a whole file's text), expected (row, field, kind) of the errors)
BAD_TSV_CASES = [
    ("label 5 (a star rating)", [(5, "还行吧")], [(10, "label", "bad_label")]),
    ("emotion as a label", [("angry", "气死我了")], [(10, "label", "bad_label")]),
    ("label word", [("positive", "还行吧")], [(10, "label", "bad_label")]),
    ("empty text", [(1, "  ")], [(10, "text", "empty_text")]),
    ("duplicate", [(1, "送餐很快，味道不错")], [(10, "text", "duplicate")]),
    ("duplicate with other spacing", [(1, "送餐很快， 味道不错 ")], [(10, "text", "duplicate")]),
    ("conflicting label", [(0, "客服很耐心，问题解决了")], [(10, "text", "conflicting_label")]),
    ("conflicting traditional copy", [(0, "客服很耐心，問題解決了")], [(10, "text", "conflicting_label")]),
    ("in an evaluation set", [(1, "酒店位置好，交通方便")], [(10, "text", "eval_overlap")]),
    ("wrong field count", [(1, "很好\t多一列")], [(10, None, "bad_row")]),
    (
        "several at once",
        [(5, "还行吧"), (1, ""), (0, "商品和图片严重不符")],
        [(10, "label", "bad_label"), (11, "text", "empty_text"), (12, "text", "eval_overlap")],
    ),
]


@pytest.mark.parametrize(("case", "extra", "expected"), BAD_TSV_CASES, ids=[c[0] for c in BAD_TSV_CASES])
def test_bad_rows_are_named_by_file_row_and_field(
    tmp_path: Path, evals: dict[str, Path], case: str, extra: list[tuple[object, str]], expected: Expected
) -> None:
    path = tsv(tmp_path / "mine.tsv", [*GOOD, *extra])
    report = validate([path], evals, LOOSE)
    found = [(p.location.file, p.location.row, p.location.field, p.kind) for p in report.errors]
    assert found == [(str(path), row, field, kind) for row, field, kind in expected]
    with pytest.raises(TrainingDataError) as raised:
        report.raise_for_errors()
    assert f"{path}:{expected[0][0]}" in str(raised.value) and "nothing was trained" in str(raised.value)
    assert len(report.examples) == len(GOOD)  # the bad rows are never among the accepted ones


def test_messages_point_at_the_other_copy(tmp_path: Path, evals: dict[str, Path]) -> None:
    first = tsv(tmp_path / "a.tsv", GOOD)
    second = tsv(tmp_path / "b.tsv", [(0, "送餐很快，味道不错"), (1, "商品和图片严重不符")])
    report = validate([first, second], evals, LOOSE)
    messages = [str(p) for p in report.errors]
    assert messages == [
        f"error: {second}:2 [text]: labelled 0 here but 1 at {first}:2; keep one label for this text",
        f"error: {second}:3 [text]: text is in evaluation set 'chnsenticorp_test' ({evals['chnsenticorp_test']}:3); "
        "remove it (a model is never judged on what it learnt)",
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("no_label.csv", "review\n很好\n", [(1, "label", "missing_column")]),
        ("no_text.csv", "label,score\n1,5\n", [(1, "text", "missing_column")]),
        ("both.csv", "编号,日期\n1,2026-11-02\n", [(1, "text", "missing_column"), (1, "label", "missing_column")]),
        ("sheet.xlsx", "whatever", [(None, None, "format")]),
        (
            "lines.jsonl",
            '{"text": "很满意", "label": 1}\n{"text": "太差了", "label": 5}\nnot json\n{"review": "好", "y": "0"}\n'
            '{"text": "一般", "sentiment": true}\n{"label": 0}\n',
            [
                (2, "label", "bad_label"),
                (3, None, "bad_row"),
                (5, "sentiment", "bad_label"),
                (6, "text", "missing_column"),
            ],
        ),
    ],
)
def test_file_level_problems(tmp_path: Path, name: str, content: str, expected: Expected) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    report = validate([path], {}, LOOSE)
    # A file with no usable row also fails the totals; that is checked below.
    found = [
        (p.location.file, p.location.row, p.location.field, p.kind)
        for p in report.errors
        if p.location.row or p.kind == "format"
    ]
    assert found == [(str(path), row, field, kind) for row, field, kind in expected]


def test_totals_too_few_rows_one_label_and_balance(tmp_path: Path) -> None:
    one_label = tsv(tmp_path / "pos.tsv", [r for r in GOOD if r[0] == 1])
    report = validate([one_label], {}, ValidationConfig(min_rows=20))
    assert [p.kind for p in report.errors] == ["too_few_rows", "one_label"]
    assert "4 usable texts; at least 20 are needed" in str(report.errors[0])

    skewed = tsv(tmp_path / "skewed.tsv", [*GOOD[:4], GOOD[4]])
    report = validate([skewed], {}, ValidationConfig(min_rows=1, min_label_share=0.3))
    assert not report.errors
    (warning,) = report.warnings
    assert warning.kind == "label_balance" and "4 positive / 1 negative (20% for the rarer label" in warning.message


def test_duplicates_can_be_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tsv(tmp_path / "dups.tsv", [*GOOD, (1, "送餐很快，味道不错"), (0, "用了两天就坏了")])
    report = validate([path], {}, ValidationConfig(min_rows=1, duplicates="drop"))
    assert not report.errors
    assert [(p.location.row, p.kind, p.severity) for p in report.warnings] == [
        (10, "duplicate", "warning"),
        (11, "duplicate", "warning"),
    ]
    assert "dropped" in report.warnings[0].message


def test_accepted_rows_become_a_clean_training_tsv(tmp_path: Path, evals: dict[str, Path]) -> None:
    # A GBK CSV with a BOM-free header in Chinese, whitespace inside texts, and a JSONL file.
    csv_path = tmp_path / "survey.csv"
    csv_path.write_text(
        "标签,评价\n" + "".join(f'{label},"{text}  "\n' for label, text in GOOD[:4]), encoding="gb18030"
    )
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"text": t, "label": label}, ensure_ascii=False) + "\n" for label, t in GOOD[4:]),
        encoding="utf-8",
    )
    report = validate([csv_path, jsonl], evals, LOOSE)
    assert not report.problems
    assert [(f.rows, f.positive) for f in report.files] == [(4, 4), (4, 0)]
    assert report.examples[0].source == f"{csv_path}:2"
    out = tmp_path / "clean" / "train.tsv"
    write_clean_tsv(report.examples, out)
    assert read_pool_tsv(out) == GOOD  # trailing spaces folded away, order kept
    assert report.summary().startswith("8 training texts (4 positive, 4 negative) from 2 file(s)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[validation]\nmin_rowz = 3\n", r"registry\.toml: validation\.min_rowz = 3: is not a known setting \(E200\)"),
        (
            '[validation]\nduplicates = "keep"\n',
            r"registry\.toml: validation\.duplicates = 'keep': must be one of error, drop",
        ),
    ],
)
def test_validation_config_errors(tmp_path: Path, text: str, message: str) -> None:
    from nlp.errors import ConfigError

    path = tmp_path / "registry.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        ValidationConfig.load(path)


def test_shipped_validation_config_loads() -> None:
    config = ValidationConfig.load()
    assert config.min_rows >= 1 and config.duplicates == "error"
