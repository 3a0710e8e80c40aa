"""`kesheng analyze` and `kesheng score` as a user runs them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kesheng.cli import app
from nlp.heatmap import mentions_of
from nlp.schema import EMOTION_NAMES, result_from_dict

runner = CliRunner()

SURVEY_GBK = (
    "编号,回答,客户等级,渠道,区域,产品线,日期,NPS评分\n"
    "1,快递三天还没到，打了客服电话13912345678也没人管,钻石,电话回访,华东,净水器,2026-11-02,2\n"
    "2,安装师傅很专业，非常满意，价格299元也实惠,黄金,微信,华南,净水器,2026/11/03,10\n"
    "3,,白银,APP,华北,扫地机器人,2026-11-04,5\n"
    "4,退款一直不到账，银行卡6222021234567894,基础,APP,华东,扫地机器人,2026年11月5日,0\n"
)

TRANSCRIPT_TXT = """# id=call-7 tier=钻石 channel=电话回访 region=华东 date=2026-11-02
[00:00:01] 客服：您好，这里是客声家电的回访，请问是王先生吗？
[00:00:05] 客户：是我。你们的净水器漏水了，
我已经打了三次电话都没人来修！
[00:00:12] 客服：非常抱歉，我马上帮您登记。
---
坐席: 您好，请问对上次的安装服务满意吗？
顾客: 挺满意的，师傅很准时。
"""


def _analyze(tmp_path: Path, *files: Path) -> tuple[int, str, Path]:
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", *map(str, files), "--out", str(out), "--no-names"])
    return result.exit_code, result.output, out


def _results(out: Path) -> list[dict[str, Any]]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_analyze_gbk_survey_and_text_transcripts(tmp_path: Path) -> None:
    survey = tmp_path / "问卷.csv"
    survey.write_bytes(SURVEY_GBK.encode("gbk"))
    calls = tmp_path / "calls.txt"
    calls.write_text(TRANSCRIPT_TXT, encoding="utf-8")

    code, output, out = _analyze(tmp_path, survey, calls)
    assert code == 0, output
    results = _results(out)
    by_id = {r["id"]: r for r in results}
    assert len(results) == 5  # 3 usable answers + 2 calls; the empty answer is reported, not an item

    raw = (out / "results.jsonl").read_text(encoding="utf-8")
    assert "13912345678" not in raw and "6222021234567894" not in raw
    assert "299元" in raw

    call = by_id["call-7"]
    assert call["kind"] == "transcript"
    assert [t["speaker"] for t in call["turns"]] == ["agent", "customer", "agent"]
    assert call["sentiment"]["label"] == "negative"
    assert call["meta"]["tier"] == "钻石"

    answer = next(r for r in results if r["kind"] == "survey" and "安装师傅" in str(r["text"]))
    assert answer["sentiment"]["label"] == "positive"
    assert answer["meta"]["region"] == "华南"

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["inputs"][0]["encoding"].lower() in {"gb18030", "gbk"}
    assert report["inputs"][0]["columns"]["text"] == "回答"
    assert [(p["row"], p["field"]) for p in report["problems"]] == [(4, "text")]
    assert "1 bad row" in output

    for name in ("heatmap.json", "heatmap.csv", "heatmap.png", "heatmap.html", "trend.png", "alerts.json"):
        assert (out / name).stat().st_size > 0, name
    heatmap = json.loads((out / "heatmap.json").read_text(encoding="utf-8"))
    assert heatmap["dimension"] == "tier"
    # Aspect mentions are counted: every answer is among the items, and the cells share out all its mentions.
    assert heatmap["items"] == len(results)
    assert heatmap["mentions"] == sum(len(mentions_of(result_from_dict(r))) for r in results) >= len(results)
    assert sum(cell["mentions"] for cell in heatmap["cells"]) == heatmap["mentions"]
    assert all(cell["count"] == cell["mentions"] >= cell["items"] >= 1 for cell in heatmap["cells"])
    alerts = json.loads((out / "alerts.json").read_text(encoding="utf-8"))
    assert all(a["department"] and a["deadline"] and a["status"] == "open" for a in alerts)


def test_analyze_writes_the_follow_up_list(tmp_path: Path) -> None:
    survey = tmp_path / "问卷.csv"
    survey.write_bytes(SURVEY_GBK.encode("gbk"))
    calls = tmp_path / "calls.txt"
    calls.write_text(TRANSCRIPT_TXT, encoding="utf-8")
    code, output, out = _analyze(tmp_path, survey, calls)
    assert code == 0, output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    alerts = json.loads((out / "alerts.json").read_text(encoding="utf-8"))
    # The diamond customers' complaints (answer 1, call-7) are follow-ups to call back within 24 h, not
    # department alerts: nothing here names a legal or safety word.
    assert not [a for a in alerts if a["kind"] == "severe"]
    followups = json.loads((out / "followups.json").read_text(encoding="utf-8"))
    assert {f["item_id"] for f in followups} == {"1", "call-7"}
    for entry in followups:
        assert entry["segment"]["tier"] == "钻石" and entry["department"]
        assert entry["negative_probability"] >= 0.8 and entry["emotion_name"] in (None, *EMOTION_NAMES.values())
        due = datetime.fromisoformat(entry["due"]) - datetime.fromisoformat(entry["listed_at"])
        assert due == timedelta(hours=24)
    assert "13912345678" not in json.dumps(followups, ensure_ascii=False)
    assert report["followups"] == len(followups) and str(out / "followups.json") in report["outputs"]
    assert f"{len(followups)} follow-up(s) to call back" in output
    order = [(f["due"], -f["negative_probability"]) for f in followups]
    assert order == sorted(order), "most urgent first"


def test_rejected_file_writes_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"id": "c1", "turns": [{"speaker": "客户", "text": "挺好的"}]}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "c2", "turns": [{"speaker": "客户", "text": "太慢了"}]}\n{"id": "c3", "turns": [\n')

    code, output, out = _analyze(tmp_path, good, broken)
    assert code == 2
    assert "broken.jsonl:2" in output
    assert not (out / "results.jsonl").exists()


@pytest.mark.parametrize(
    ("text", "label"),
    [("非常满意，服务很周到", "positive"), ("太差了，再也不买了", "negative")],
)
def test_score_reads_lines_and_prints_json(tmp_path: Path, text: str, label: str) -> None:
    result = runner.invoke(app, ["score", "-"], input=text + "\n")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip())
    assert row["label"] == label
    assert {"label", "score", "negative_probability", "model_version", "emotion"} <= set(row)
    if "probabilities" in row:  # a three-way model
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    if label == "negative":  # the model's emotion, else the lexicon's (太差了 is 失望)
        assert row["emotion"] is not None and row["emotion_name"] == EMOTION_NAMES[row["emotion"]]


@pytest.mark.parametrize(
    ("text", "emotion", "name"),
    [("气死我了，太过分了！", "angry", "愤怒"), ("非常满意，服务很周到", None, None)],
)
def test_score_names_the_lexicon_emotion_of_negative_text(text: str, emotion: str | None, name: str | None) -> None:
    result = runner.invoke(app, ["score", "--lexicon", "-"], input=text + "\n")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip())
    assert (row["emotion"], row.get("emotion_name")) == (emotion, name)
    assert "probabilities" not in row and "emotion_probabilities" not in row, "the lexicon gives no probabilities"


def test_score_prints_a_three_way_model_s_probabilities_and_emotion(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.conftest import ThreeWayScorer

    monkeypatch.setattr("kesheng.cli._scorer_or_lexicon", lambda *_: ThreeWayScorer())
    texts = "快递太慢了，气死我了\n我想问一下发票怎么开\n安装师傅很专业\n"
    result = runner.invoke(app, ["score", "-"], input=texts)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["label"], r["emotion"], r["emotion_name"]) for r in rows] == [
        ("negative", "angry", "愤怒"),
        ("neutral", "neutral", "中性"),
        ("positive", "happy", "满意"),
    ]
    assert rows[0]["probabilities"] == {"negative": 0.86, "neutral": 0.1, "positive": 0.04}
    assert rows[0]["emotion_probability"] == 0.7 == rows[0]["emotion_probabilities"]["angry"]
    assert all(sum(r["emotion_probabilities"].values()) == pytest.approx(1.0) for r in rows)


RESTAURANT_REVIEWS = (
    "编号,评价,门店,日期\n"
    "r1,排队等了一个小时才有位置，上菜也很慢,静安店,2026-11-02\n"
    "r2,服务员态度冷淡，叫了三次都没人理,静安店,2026-11-03\n"
    "r3,味道不错但是分量太少了，吃不饱,徐汇店,2026-11-03\n"
    "r4,外卖配送太慢了，包装也洒了,徐汇店,2026-11-04\n"
    "r5,环境很好，座位宽敞，就是价格有点贵,静安店,2026-11-05\n"
    "r6,卫生太差，碗里有头发,徐汇店,2026-11-05\n"
)


def test_a_restaurant_taxonomy_gives_its_own_theme_ids(tmp_path: Path) -> None:
    from nlp.resources import data_path

    reviews = tmp_path / "点评.csv"
    reviews.write_text(RESTAURANT_REVIEWS, encoding="utf-8")
    out = tmp_path / "out"
    taxonomy = data_path("examples", "restaurant_themes.toml")
    args = ["analyze", str(reviews), "--out", str(out), "--no-names", "--lexicon", "--themes", str(taxonomy)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    themes = {r["id"]: [t["id"] for t in r["themes"]] for r in _results(out)}
    assert "waiting" in themes["r1"] and "staff" in themes["r2"] and "portion" in themes["r3"]
    assert "delivery" in themes["r4"] and "hygiene" in themes["r6"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    taxonomy_ids = {t["id"] for t in report["themes"] if not t["discovered"]}
    assert taxonomy_ids == {"taste", "portion", "waiting", "staff", "hygiene", "environment", "price", "delivery"}
    heatmap = json.loads((out / "heatmap.json").read_text(encoding="utf-8"))
    assert {"logistics", "after_sales"}.isdisjoint(c["theme"] for c in heatmap["cells"])  # no retail themes
    departments = {t["id"]: t["department"] for t in heatmap["themes"]}
    assert departments["hygiene"] == "食品安全部"


def test_a_bad_taxonomy_or_config_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    reviews = tmp_path / "点评.csv"
    reviews.write_text(RESTAURANT_REVIEWS, encoding="utf-8")
    themes = tmp_path / "themes.toml"
    themes.write_text('[themes.taste]\nlabel = "口味"\ndepartment = "厨务部"\nseed = ["味道"]\n', encoding="utf-8")
    result = runner.invoke(app, ["analyze", str(reviews), "--out", str(tmp_path / "o"), "--themes", str(themes)])
    assert result.exit_code == 2
    assert "themes.toml: themes.taste.seed = ['味道']: is not a known setting" in result.output
    config = tmp_path / "kesheng.toml"
    config.write_text("[heatmap]\nprior_item = 5\n", encoding="utf-8")
    result = runner.invoke(app, ["analyze", str(reviews), "--out", str(tmp_path / "o"), "--config", str(config)])
    assert result.exit_code == 2 and "kesheng.toml: heatmap.prior_item = 5: is not a known setting" in result.output
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_discovered_theme_ids_are_kept_between_runs(tmp_path: Path) -> None:
    from nlp.resources import data_path

    out = tmp_path / "out"
    sample = tmp_path / "survey.csv"
    sample.write_text("".join(data_path("samples", "survey.csv").open(encoding="utf-8").readlines()[:801]), "utf-8")
    first = runner.invoke(app, ["analyze", str(sample), "--out", str(out), "--no-names", "--lexicon"])
    assert first.exit_code == 0, first.output
    state = json.loads((out / "theme-state.json").read_text(encoding="utf-8"))
    before = {t["id"]: t["label"] for t in state["themes"]}
    assert before, "the demo survey has discovered themes"
    again = runner.invoke(app, ["analyze", str(sample), "--out", str(out), "--no-names", "--lexicon"])
    assert again.exit_code == 0, again.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    after = {t["id"]: t["label"] for t in report["themes"] if t["discovered"]}
    assert after == before  # the same answers again: the same demands under the same ids and labels


# --- hostile input and spreadsheet-safe files (issue 16) --------------------------------------------


def _lexicon(tmp_path: Path, *files: Path) -> tuple[int, str, Path]:
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", *map(str, files), "--out", str(out), "--no-names", "--lexicon"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output, out


def _workbook_bomb(rows: int) -> bytes:
    """An .xlsx whose sheet inflates to `rows` identical rows (about 60 bytes each), written with
    zipfile directly: small on disk."""
    import io
    import zipfile

    row = '<row><c t="inlineStr"><is><t>快递太慢</t></is></c></row>' * 1000
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(b"<worksheet><sheetData>")
            for _ in range(rows // 1000):
                sheet.write(row.encode())
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"PK\x05\x06" + b"\x00" * 18, "not a readable XLSX workbook"),  # an empty zip
        (_workbook_bomb(200_000), "inflates"),
    ],
)
def test_a_hostile_workbook_is_one_line_naming_the_file(tmp_path: Path, content: bytes, says: str) -> None:
    workbook = tmp_path / "回访.xlsx"
    workbook.write_bytes(content)
    code, output, out = _lexicon(tmp_path, workbook)
    assert code == 2
    (line,) = [line for line in output.splitlines() if line.strip()]
    assert line.startswith(f"error: {workbook}") and says in line
    assert "Traceback" not in output and not (out / "results.jsonl").exists()


def test_a_junk_content_types_part_is_one_line(tmp_path: Path) -> None:
    import zipfile

    workbook = tmp_path / "corrupt.xlsx"
    with zipfile.ZipFile(workbook, "w") as z:
        z.writestr("[Content_Types].xml", "<junk")
    code, output, _ = _lexicon(tmp_path, workbook)
    assert code == 2 and output.count("\n") == 1
    assert f"error: {workbook}: not a readable XLSX workbook" in output


def test_a_cell_past_the_csv_field_limit_is_a_bad_row(tmp_path: Path) -> None:
    survey = tmp_path / "huge_cell.csv"
    survey.write_text("id,text\nh1," + "差" * 131_073 + "\nh2,物流很快，包装也很好\n", encoding="utf-8")
    code, output, out = _lexicon(tmp_path, survey)
    assert code == 0, output
    assert [r["id"] for r in _results(out)] == ["h2"]
    assert f"{survey}:2 [text] 131073 characters; at most 20000 (item 'h1'); row skipped" in output


def test_score_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", str(tmp_path / "missing.txt"), "--lexicon"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert (
        result.output == f"error: {tmp_path / 'missing.txt'}: cannot read the file: No such file or directory (E100)\n"
    )


def test_heatmap_csv_passes_no_formula_and_keeps_numbers(tmp_path: Path) -> None:
    import csv

    survey = tmp_path / "问卷.csv"
    rows = [
        ("1", "快递太慢了，客服也不回消息", "=1+1"),
        ("2", "退款一直不到账，太差了", "@SUM(A1)"),
        ("3", "安装师傅很专业，非常满意", "+cmd|' /C calc'!A0"),
        ("4", "物流太慢，包装也破了", "-2+3"),
    ]
    survey.write_text(
        "编号,回答,客户等级\n" + "".join(f'{i},{text},"{tier}"\n' for i, text, tier in rows), encoding="utf-8"
    )
    code, output, out = _lexicon(tmp_path, survey)
    assert code == 0, output
    with (out / "heatmap.csv").open(encoding="utf-8-sig", newline="") as handle:
        cells = list(csv.DictReader(handle))
    assert {c["column"] for c in cells} >= {"'=1+1", "'@SUM(A1)", "'+cmd|' /C calc'!A0", "'-2+3"}
    for cell in cells:
        for value in cell.values():
            if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(value)  # only numbers start so
    assert any(float(c["mean_score"]) < 0 for c in cells), "a negative mean score stays a number"
