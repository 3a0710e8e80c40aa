from __future__ import annotations

import csv
import json
from pathlib import Path

from kesheng.render import write_heatmap_files
from nlp.heatmap import build_heatmap, build_trend
from nlp.schema import Label, Result, Sentiment
from nlp.themes import Theme

THEMES = [
    Theme("logistics", "物流配送", ("物流", "快递")),
    Theme("D01", "屏幕·电池", ("屏幕", "电池"), discovered=True),
]


def result(id: str, theme: str, negative: bool, text: str, tier: str, date: str) -> Result:
    p = 0.9 if negative else 0.1
    label: Label = "negative" if negative else "positive"
    return Result(
        id,
        "survey",
        text,
        Sentiment(label, 1 - 2 * p, p, "t"),
        themes=(theme,),
        meta={"tier": tier, "date": date},
    )


RESULTS = [
    result("1", "logistics", True, "物流太慢了</script><b>x</b>", "黄金", "2026-11-02"),
    result("2", "logistics", False, "快递很快", "白银", "2026-11-09"),
    result("3", "D01", True, "屏幕有坏点，电池不耐用", "黄金", "2026-11-09"),
]


def test_writes_the_five_files(tmp_path: Path) -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "tier")
    paths = write_heatmap_files(heatmap, build_trend(RESULTS, THEMES), tmp_path / "out")
    assert [p.name for p in paths] == [
        "heatmap.json",
        "heatmap.csv",
        "heatmap.png",
        "heatmap.html",
        "trend.png",
    ]

    data = json.loads((tmp_path / "out" / "heatmap.json").read_text(encoding="utf-8"))
    assert data["dimension"] == "tier" and data["columns"] == ["白银", "黄金"]
    assert sum(c["count"] for c in data["cells"]) == 3
    assert data["trend"]["weeks"] == ["2026-W45", "2026-W46"]

    with (tmp_path / "out" / "heatmap.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert {(r["theme_label"], r["column"], r["count"]) for r in rows} == {
        ("物流配送", "黄金", "1"), ("物流配送", "白银", "1"), ("屏幕·电池", "黄金", "1"),
    }  # fmt: skip

    for name in ("heatmap.png", "trend.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained_and_quotes_cannot_break_out(tmp_path: Path) -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "tier")
    write_heatmap_files(heatmap, build_trend(RESULTS, THEMES), tmp_path, examples={("D01", "黄金"): ["屏幕有坏点"]})
    page = (tmp_path / "heatmap.html").read_text(encoding="utf-8")
    assert page.count("</script>") == 2  # the data block and the code, not the quote
    assert "物流太慢了<\\/script>" in page
    assert "屏幕有坏点" in page and "http" not in page
