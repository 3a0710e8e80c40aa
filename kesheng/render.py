"""Writing the demand heatmap: heatmap.json, heatmap.csv, heatmap.png, heatmap.html and trend.png.

The I/O edge of nlp.heatmap; every file shows the columns in the heatmap's order (tiers 钻石 → 基础,
weeks in time). Pictures draw Chinese with the Noto Sans CJK SC font that the ``mplfonts`` package
ships (else a CJK font matplotlib finds on the system); without any, they are labelled with theme ids,
ASCII column values or column numbers, never with boxes for missing glyphs (a warning says so).
Cells with fewer than ``min_mentions`` mentions are pale and hatched in the PNG and the HTML, with a
legend that says why: their share rests on too few answers to compare. The HTML page is one
self-contained file (no script or style from the network): the table is written out, a small script
shows each cell's figures and example redacted quotes on hover.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.files import atomic_writer, spreadsheet_row, write_json_atomic, write_text_atomic
from nlp.heatmap import PRIORITY_FORMULA, UNASSIGNED, Cell, Heatmap, Trend
from nlp.schema import DIMENSION_NAMES

log = logging.getLogger(__name__)

CJK_FONT = Path("fonts") / "NotoSansCJKsc-Regular.otf"
# System fonts that draw Chinese, tried in this order when mplfonts' font is not there.
SYSTEM_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
    "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC",
)  # fmt: skip
# Small multiples: at most this many themes (the most mentioned), this many per row.
TREND_PANELS = 12
TREND_COLUMNS = 4
CSV_FIELDS = (
    "theme", "theme_label", "column", "mentions", "items", "negatives", "negative_share",
    "negative_share_low", "negative_share_high", "mean_score", "priority", "sparse",
)  # fmt: skip
# Share of white mixed into a sparse cell's colour.
PALE = 0.65
EMPTY_COLOUR = "#f4f4f4"


def cjk_font_path() -> Path | None:
    """A font file that draws Chinese: mplfonts' Noto Sans CJK SC (found without importing mplfonts,
    which configures matplotlib), else a system font of SYSTEM_CJK_FAMILIES; None when there is none."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / CJK_FONT
        if path.is_file():
            return path
    from matplotlib import font_manager

    for family in SYSTEM_CJK_FAMILIES:
        try:
            found = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        return Path(found)
    return None


def heatmap_document(heatmap: Heatmap, trend: Trend) -> dict[str, Any]:
    """The heatmap.json object: the heatmap and, under "trend", the weekly negative shares."""
    return {**heatmap.to_dict(), "trend": trend.to_dict()}


def write_heatmap_files(
    heatmap: Heatmap,
    trend: Trend,
    out_dir: Path,
    examples: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> list[Path]:
    """Write the five files into ``out_dir`` and return their paths.

    ``examples`` ((theme, column) → quotes) replaces those cells' own examples on the HTML page;
    the quotes must already be redacted (results' texts are).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    plt, cjk = _pyplot()
    paths = [
        _write_json(heatmap, trend, out_dir / "heatmap.json"),
        _write_csv(heatmap, out_dir / "heatmap.csv"),
        _write_png(plt, picture_labels(heatmap, cjk), heatmap, out_dir / "heatmap.png"),
        _write_html(heatmap, out_dir / "heatmap.html", examples),
        _write_trend_png(plt, cjk, trend, out_dir / "trend.png"),
    ]
    return paths


def _write_json(heatmap: Heatmap, trend: Trend, path: Path) -> Path:
    return write_json_atomic(path, heatmap_document(heatmap, trend), indent=2)


def _write_csv(heatmap: Heatmap, path: Path) -> Path:
    labels = {t.id: t.label for t in heatmap.themes}
    # utf-8-sig: Excel on Chinese Windows reads a BOM-less CSV as GBK and garbles it.
    with atomic_writer(path, encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_FIELDS)
        for c in heatmap.cells:
            # Themes and segment values are the user's words (a tier of "=1+1" stays text).
            writer.writerow(spreadsheet_row(
                [c.theme, labels.get(c.theme, c.theme), c.column, c.mentions, c.items, c.negatives,
                 f"{c.negative_share:.4f}", f"{c.negative_share_low:.4f}", f"{c.negative_share_high:.4f}",
                 f"{c.mean_score:.4f}", f"{c.priority:.3f}", int(c.sparse)]
            ))  # fmt: skip
    return path


def _pyplot() -> tuple[Any, bool]:
    """matplotlib's pyplot on the file-only backend, with a CJK font as default when there is one;
    and whether there is."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    plt.rcParams["axes.unicode_minus"] = False
    font = cjk_font_path()
    if font is None:
        log.warning("no CJK font (install mplfonts): pictures are labelled with ids instead of Chinese names")
        plt.rcParams["font.family"] = ["DejaVu Sans"]
        return plt, False
    font_manager.fontManager.addfont(str(font))
    name = font_manager.FontProperties(fname=str(font)).get_name()
    plt.rcParams["font.family"] = [name, "DejaVu Sans"]
    return plt, True


@dataclass(frozen=True)
class PictureLabels:
    """The words of heatmap.png: in Chinese with a CJK font, else in ASCII (theme ids, column values
    that are ASCII or their number), so that no glyph is missing."""

    title: str
    rows: tuple[str, ...]  # of the rows drawn (themes with mentions)
    row_ids: tuple[str, ...]
    columns: tuple[str, ...]
    colour_label: str
    cell_legend: str
    sparse_legend: str
    empty_legend: str


def picture_labels(heatmap: Heatmap, cjk: bool) -> PictureLabels:
    """The labels heatmap.png is drawn with (``cjk``: whether the font draws Chinese)."""
    rows = [t for t in heatmap.themes if any(c.theme == t.id for c in heatmap.cells)] or list(heatmap.themes)
    n = heatmap.min_mentions
    if cjk:
        dimension = DIMENSION_NAMES.get(heatmap.dimension, heatmap.dimension)
        return PictureLabels(
            title=f"需求热力图 · 主题 × {dimension}（{heatmap.items} 条回答，{heatmap.mentions} 次提及）",
            rows=tuple(_short(t.label) for t in rows),
            row_ids=tuple(t.id for t in rows),
            columns=tuple(_short(c, 10) for c in heatmap.columns),
            colour_label="负面提及占比",
            cell_legend="格中：负面占比 / 提及次数",
            sparse_legend=f"浅色斜线：提及少于 {n} 次，占比不可靠",
            empty_legend="灰色：无提及",
        )
    dimension = heatmap.dimension if heatmap.dimension.isascii() else "dimension"
    return PictureLabels(
        title=f"Demand heatmap: theme x {dimension} ({heatmap.items} answers, {heatmap.mentions} mentions)",
        rows=tuple(_short(t.id) if t.id.isascii() else f"theme {i + 1}" for i, t in enumerate(rows)),
        row_ids=tuple(t.id for t in rows),
        columns=tuple(_short(c, 10) if c.isascii() else f"col {j + 1}" for j, c in enumerate(heatmap.columns)),
        colour_label="negative share of mentions",
        cell_legend="in a cell: negative share / mentions",
        sparse_legend=f"pale, hatched: fewer than {n} mentions (share unreliable)",
        empty_legend="grey: no mention",
    )


def _short(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _write_png(plt: Any, labels: PictureLabels, heatmap: Heatmap, path: Path) -> Path:
    """Colour = negative share of the cell's mentions; in each cell the share and the mentions; cells
    below min_mentions pale and hatched; rows in the heatmap's order, columns in its order."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize, to_rgba
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import PercentFormatter

    rows, columns = labels.row_ids, heatmap.columns
    cells = {(c.theme, c.column): c for c in heatmap.cells}
    cmap = colormaps["RdYlGn_r"]
    image = np.tile(np.array(to_rgba(EMPTY_COLOUR)), (max(1, len(rows)), max(1, len(columns)), 1))
    width = min(26.0, 4.0 + 1.05 * max(1, len(columns)))
    height = min(30.0, 2.6 + 0.5 * max(1, len(rows)))
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    drawn: list[tuple[int, int, Cell]] = []
    for i, theme in enumerate(rows):
        for j, column in enumerate(columns):
            cell = cells.get((theme, column))
            if cell is None:
                continue
            colour = cmap(cell.negative_share)
            image[i, j] = _pale(colour) if cell.sparse else colour
            drawn.append((i, j, cell))
    ax.imshow(image, aspect="auto", interpolation="nearest")
    for i, j, cell in drawn:
        if cell.sparse:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#c2c2c2", lw=0))
        share = cell.negative_share
        dark = not cell.sparse and (share > 0.8 or share < 0.15)
        ink = "#555555" if cell.sparse else ("white" if dark else "black")
        ax.text(j, i, f"{share:.0%}\n{cell.mentions}", ha="center", va="center", fontsize=8, color=ink,
                linespacing=1.1)  # fmt: skip
    ax.set_xticks(range(len(columns)), labels=labels.columns, rotation=45 if len(columns) > 6 else 0,
                  ha="right" if len(columns) > 6 else "center")  # fmt: skip
    ax.set_yticks(range(len(rows)), labels=labels.rows)
    ax.set_xticks(np.arange(-0.5, len(columns)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(rows)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_title(labels.title, fontsize=11)
    colourbar = fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), cmap), ax=ax, fraction=0.03, pad=0.02)
    colourbar.set_label(labels.colour_label)
    colourbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    legend = [
        Patch(facecolor="none", edgecolor="none", label=labels.cell_legend),
        Patch(facecolor=_pale(cmap(0.7)), hatch="///", edgecolor="#c2c2c2", label=labels.sparse_legend),
        Patch(facecolor=EMPTY_COLOUR, edgecolor="#cccccc", label=labels.empty_legend),
    ]  # fmt: skip
    fig.legend(handles=legend, loc="lower center", ncol=3, frameon=False, fontsize=8, handlelength=1.6)
    fig.tight_layout(rect=(0.0, 0.35 / height, 1.0, 1.0))  # the legend's strip at the bottom, in inches
    fig.savefig(path)
    plt.close(fig)
    return path


def _pale(rgba: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``rgba`` mixed with white: how a cell of too few mentions is painted."""
    red, green, blue, alpha = rgba
    return (red * (1 - PALE) + PALE, green * (1 - PALE) + PALE, blue * (1 - PALE) + PALE, alpha)


def _write_trend_png(plt: Any, cjk: bool, trend: Trend, path: Path) -> Path:
    """Small multiples: one panel per theme (the most mentioned), the negative share of its mentions per
    ISO week with its interval shaded; weeks below min_mentions as hollow points."""
    from matplotlib.ticker import PercentFormatter

    mentioned = {theme: sum(p.mentions for p in points) for theme, points in trend.series.items()}
    # The most mentioned themes first; what no theme covers (unassigned) after them.
    ranked = sorted(trend.series.items(), key=lambda kv: (kv[0] == UNASSIGNED.id, -mentioned[kv[0]]))[:TREND_PANELS]
    panels = max(1, len(ranked))
    ncols = min(TREND_COLUMNS, panels)
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows + 0.6), dpi=110, squeeze=False,
                             sharey=True)  # fmt: skip
    weeks = list(trend.weeks)
    position = {w: i for i, w in enumerate(weeks)}
    for k, ax in enumerate(axes.flat):
        if k >= len(ranked):
            ax.axis("off")
            continue
        theme, points = ranked[k]
        xs = [position[p.week] for p in points]
        ax.fill_between(xs, [p.negative_share_low for p in points], [p.negative_share_high for p in points],
                        color="#c0392b", alpha=0.15, linewidth=0)  # fmt: skip
        ax.plot(xs, [p.negative_share for p in points], color="#c0392b", linewidth=1.2)
        for x, p in zip(xs, points, strict=True):
            sparse = p.mentions < trend.min_mentions
            ax.plot(x, p.negative_share, marker="o", markersize=4, color="#c0392b",
                    markerfacecolor="white" if sparse else "#c0392b")  # fmt: skip
        label = trend.labels.get(theme, theme)
        name = label if cjk else (theme if theme.isascii() else f"theme {k + 1}")
        ax.set_title(f"{_short(name)} ({mentioned[theme]})", fontsize=9)
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xticks(
            range(len(weeks)), labels=[w[-3:] for w in weeks], fontsize=7, rotation=90 if len(weeks) > 8 else 0
        )
        ax.grid(alpha=0.3)
    if not ranked:
        axes.flat[0].text(0.5, 0.5, "没有带日期的条目" if cjk else "no dated answers", ha="center", va="center")
    n, level = trend.min_mentions, f"{trend.confidence:.0%}"
    if cjk:
        title = f"各主题每周负面提及占比（括号内为提及数；阴影 = {level} 区间；空心点 = 当周提及少于 {n} 次）"
    else:
        title = f"Negative share of mentions per week (mentions in brackets; band: {level} interval; hollow: < {n})"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


_HTML_HEAD = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>需求热力图</title>
<style>
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:center;min-width:52px}
th.row{text-align:left;max-width:240px;font-weight:normal}
td.cell{cursor:default;font-weight:bold}
td.cell small{display:block;font-weight:normal;font-size:11px}
td.sparse{color:#666;font-weight:normal}
.sparse{background-image:repeating-linear-gradient(45deg,rgba(255,255,255,.5) 0 4px,rgba(150,150,150,.35) 4px 6px)}
.empty{background:#f4f4f4}
.legend span{display:inline-block;width:26px;height:14px;vertical-align:middle;border:1px solid #ccc;
margin:0 4px 0 14px}
#tip{position:fixed;display:none;max-width:380px;background:#fff;border:1px solid #888;padding:8px;
box-shadow:0 2px 8px rgba(0,0,0,.2);font-size:12px;pointer-events:none}
#tip q{display:block;margin-top:4px;color:#555}
</style></head><body>
"""
_HTML_SCRIPT = """<div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const labels = new Map(data.themes.map(t => [t.id, t.label]));
const tip = document.getElementById("tip");
for (const td of document.querySelectorAll("td.cell")) {
  const c = data.cells[Number(td.dataset.cell)];
  td.addEventListener("mousemove", e => {
    tip.replaceChildren();
    const b = document.createElement("b");
    b.textContent = (labels.get(c.theme) || c.theme) + " · " + c.column; tip.appendChild(b);
    const p = document.createElement("div");
    p.textContent = "提及 " + c.mentions + " 次（" + c.items + " 条回答），负面 " + c.negatives + " 次，占比 " +
      (100 * c.negative_share).toFixed(1) + "%（" + Math.round(100 * data.confidence) + "% 区间 " +
      (100 * c.negative_share_low).toFixed(0) + "–" + (100 * c.negative_share_high).toFixed(0) + "%），平均分 " +
      c.mean_score.toFixed(2) + "，优先级 " + c.priority.toFixed(1) +
      (c.sparse ? "；提及少于 " + data.min_mentions + " 次，占比不可靠" : "");
    tip.appendChild(p);
    for (const quote of (c.examples || [])) {
      const q = document.createElement("q"); q.textContent = quote; tip.appendChild(q);
    }
    tip.style.display = "block";
    tip.style.left = (e.clientX + 14) + "px"; tip.style.top = (e.clientY + 14) + "px";
  });
  td.addEventListener("mouseleave", () => { tip.style.display = "none"; });
}
</script></body></html>
"""


# The ends and middle of matplotlib's RdYlGn_r, which heatmap.png is painted with.
_GREEN, _YELLOW, _RED = (0, 104, 55), (254, 254, 189), (165, 0, 38)


def _colour(share: float, sparse: bool) -> str:
    """Green (no negative mention) through yellow to red (all negative), as in heatmap.png; mixed with
    white when sparse."""
    low, high, t = (_GREEN, _YELLOW, 2 * share) if share <= 0.5 else (_YELLOW, _RED, 2 * share - 1)
    rgb = [a + (b - a) * t for a, b in zip(low, high, strict=True)]
    if sparse:
        rgb = [v * (1 - PALE) + 255 * PALE for v in rgb]
    return "rgb({},{},{})".format(*(round(v) for v in rgb))


def _ink(cell: Cell) -> str:
    """White text on the darkest colours (as in heatmap.png)."""
    dark = not cell.sparse and (cell.negative_share > 0.8 or cell.negative_share < 0.15)
    return ";color:#fff" if dark else ""


def _write_html(heatmap: Heatmap, path: Path, examples: Mapping[tuple[str, str], Sequence[str]] | None) -> Path:
    document = heatmap.to_dict()
    if examples is not None:
        for cell in document["cells"]:
            key = (cell["theme"], cell["column"])
            if key in examples:
                cell["examples"] = list(examples[key])
    index = {(c.theme, c.column): i for i, c in enumerate(heatmap.cells)}
    e = html.escape
    dimension = DIMENSION_NAMES.get(heatmap.dimension, heatmap.dimension)
    parts = [
        _HTML_HEAD,
        f"<h2>需求热力图 · 主题 × {e(dimension)}</h2>\n",
        f"<p>{heatmap.items} 条回答，{heatmap.mentions} 次提及。颜色 = 负面提及占比，格中为占比与提及数；"
        f"每个提及按其自身情感计入其主题（一条回答可计入多个主题）。priority = {e(PRIORITY_FORMULA)}</p>\n",
        f'<p class="legend">图例：<span style="background:{_colour(0.0, False)}"></span>无负面'
        f'<span style="background:{_colour(0.5, False)}"></span>一半负面'
        f'<span style="background:{_colour(1.0, False)}"></span>全部负面'
        f'<span class="sparse" style="background-color:{_colour(0.7, True)}"></span>'
        f"浅色斜线：提及少于 {heatmap.min_mentions} 次，占比不可靠"
        f'<span class="empty"></span>无提及</p>\n',
        '<table id="map">\n<thead><tr><th></th>',
        *(f"<th>{e(column)}</th>" for column in heatmap.columns),
        "</tr></thead>\n<tbody>\n",
    ]
    for theme in heatmap.themes:
        parts.append(f'<tr><th class="row" title="{e("、".join(theme.keywords))}">{e(theme.label)}</th>')
        for column in heatmap.columns:
            i = index.get((theme.id, column))
            if i is None:
                parts.append('<td class="empty"></td>')
                continue
            c = heatmap.cells[i]
            sparse = ' sparse" data-sparse="true' if c.sparse else ""
            parts.append(
                f'<td class="cell{sparse}" data-cell="{i}" data-mentions="{c.mentions}" '
                f'style="background-color:{_colour(c.negative_share, c.sparse)}{_ink(c)}">'
                f"{c.negative_share:.0%}<small>{c.mentions}</small></td>"
            )
        parts.append("</tr>\n")
    parts.append("</tbody></table>\n")
    payload = json.dumps(document, ensure_ascii=False)
    # Inside <script>, "</" could close the element early: a quote may contain "</script>".
    payload = payload.replace("</", "<\\/")
    parts.append(_HTML_SCRIPT.replace("__DATA__", payload))
    return write_text_atomic(path, "".join(parts))
