"""The heatmap files: columns in reading order in every file, uncertain cells pale and said so, Chinese
only where the font can draw it."""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path

import pytest

from kesheng import render
from kesheng.render import picture_labels, write_heatmap_files
from nlp.heatmap import Heatmap, build_heatmap, build_trend
from nlp.schema import Aspect, Label, Result, Sentiment
from nlp.themes import Theme

THEMES = [
    Theme("logistics", "物流配送", ("物流", "快递")),
    Theme("D01", "屏幕·电池", ("屏幕", "电池"), discovered=True),
]
TIERS = ("钻石", "黄金", "白银", "基础")


def unit(text: str, theme: str, negative: bool) -> Aspect:
    p = 0.9 if negative else 0.1
    label: Label = "negative" if negative else "positive"
    return Aspect(text, 0, len(text), "", "", Sentiment(label, 1 - 2 * p, p, "t"), theme=theme)


def result(id: str, units: list[Aspect], tier: str, date: str) -> Result:
    worst = max(units, key=lambda u: u.sentiment.negative_probability).sentiment
    text = "，".join(u.text for u in units)
    themes = tuple(u.theme or "" for u in units)
    return Result(id, "survey", text, worst, themes=themes, meta={"tier": tier, "date": date}, aspects=tuple(units))


# The busiest tier is 基础, then 白银: ordered by volume (or by name) the columns would not read 钻石 → 基础.
RESULTS = [
    result("1", [unit("物流太慢了</script><b>x</b>", "logistics", True)], "钻石", "2026-11-09"),
    result("2", [unit("屏幕有坏点", "D01", True), unit("快递很快", "logistics", False)], "黄金", "2026-11-02"),
    *(result(f"s{i}", [unit("快递很快", "logistics", i % 3 == 0)], "白银", "2026-11-09") for i in range(8)),
    *(result(f"b{i}", [unit("物流慢，等了一周", "logistics", i % 2 == 0)], "基础", "2026-11-16") for i in range(12)),
]


@pytest.fixture
def heatmap() -> Heatmap:
    return build_heatmap(RESULTS, THEMES, "tier")


def test_writes_the_five_files_with_tiers_in_order(tmp_path: Path, heatmap: Heatmap) -> None:
    paths = write_heatmap_files(heatmap, build_trend(RESULTS, THEMES), tmp_path / "out")
    assert [p.name for p in paths] == ["heatmap.json", "heatmap.csv", "heatmap.png", "heatmap.html", "trend.png"]

    data = json.loads((tmp_path / "out" / "heatmap.json").read_text(encoding="utf-8"))
    assert data["dimension"] == "tier" and data["columns"] == list(TIERS)
    assert (data["items"], data["mentions"]) == (22, 23)
    assert sum(c["mentions"] for c in data["cells"]) == 23
    assert data["trend"]["weeks"] == ["2026-W45", "2026-W46", "2026-W47"]

    with (tmp_path / "out" / "heatmap.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [r["column"] for r in rows if r["theme"] == "logistics"] == list(TIERS)
    diamond = next(r for r in rows if (r["theme"], r["column"]) == ("logistics", "钻石"))
    assert diamond["mentions"] == "1" and diamond["sparse"] == "1" and diamond["negative_share_low"] == "0.2065"
    basic = next(r for r in rows if (r["theme"], r["column"]) == ("logistics", "基础"))
    assert (basic["mentions"], basic["items"], basic["negatives"], basic["sparse"]) == ("12", "12", "6", "0")

    page = (tmp_path / "out" / "heatmap.html").read_text(encoding="utf-8")
    head = page[page.index("<thead>") : page.index("</thead>")]
    assert re.findall(r"<th>([^<]+)</th>", head) == list(TIERS)

    for name in ("heatmap.png", "trend.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cells_below_min_mentions_are_pale_in_the_html_and_the_legend_says_why(
    tmp_path: Path, heatmap: Heatmap
) -> None:
    write_heatmap_files(heatmap, build_trend(RESULTS, THEMES), tmp_path)
    page = (tmp_path / "heatmap.html").read_text(encoding="utf-8")
    cells = re.findall(r'<td class="([^"]*)"[^>]*data-mentions="(\d+)"[^>]*>', page)
    assert len(cells) == len(heatmap.cells)
    for classes, mentions in cells:
        assert ("sparse" in classes.split()) == (int(mentions) < heatmap.min_mentions), (classes, mentions)
    assert {m for c, m in cells if "sparse" in c} == {"1"}
    assert {m for c, m in cells if "sparse" not in c} == {"8", "12"}
    assert page.count('data-sparse="true"') == 3  # 钻石 and 黄金 of logistics, 黄金 of D01
    assert f"提及少于 {heatmap.min_mentions} 次" in page


def test_html_is_self_contained_and_quotes_cannot_break_out(tmp_path: Path, heatmap: Heatmap) -> None:
    write_heatmap_files(heatmap, build_trend(RESULTS, THEMES), tmp_path, examples={("D01", "黄金"): ["屏幕有坏点"]})
    page = (tmp_path / "heatmap.html").read_text(encoding="utf-8")
    assert page.count("</script>") == 2  # the data block and the code, not the quote
    assert "物流太慢了<\\/script>" in page and "<b>x</b>" not in page
    assert "屏幕有坏点" in page and "http" not in page


def _glyph_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_pictures_draw_chinese_with_a_cjk_font_and_ids_without_one(
    tmp_path: Path, heatmap: Heatmap, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert render.cjk_font_path() is not None, "mplfonts ships Noto Sans CJK SC"
    chinese = picture_labels(heatmap, cjk=True)
    assert chinese.columns == TIERS and chinese.rows == ("物流配送", "屏幕·电池") and "客户等级" in chinese.title
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_heatmap_files(heatmap, build_trend(RESULTS, THEMES), tmp_path / "cjk")
    assert _glyph_warnings(caught) == []

    ascii_only = picture_labels(heatmap, cjk=False)
    assert ascii_only.rows == ("logistics", "D01") and ascii_only.columns == ("col 1", "col 2", "col 3", "col 4")
    assert all(text.isascii() for text in (ascii_only.title, *ascii_only.rows, ascii_only.sparse_legend))
    monkeypatch.setattr(render, "cjk_font_path", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = write_heatmap_files(heatmap, build_trend(RESULTS, THEMES), tmp_path / "plain")
    assert _glyph_warnings(caught) == [], "no box for a glyph the font lacks"
    assert all(p.stat().st_size > 0 for p in paths)
