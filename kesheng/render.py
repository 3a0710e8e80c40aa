"""Writing the demand heatmap: heatmap.json, heatmap.csv, heatmap.png, heatmap.html and trend.png.

The I/O edge of nlp.heatmap. Pictures use the Noto Sans CJK SC font that the ``mplfonts`` package
ships, so Chinese labels render on a machine without system CJK fonts; the HTML page is one
self-contained file (no script or style from the network) whose cells show counts and example
redacted quotes on hover.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nlp.errors import ModelError
from nlp.files import atomic_writer, write_json_atomic, write_text_atomic
from nlp.heatmap import Heatmap, Trend

CJK_FONT = Path("fonts") / "NotoSansCJKsc-Regular.otf"
# Small multiples: at most this many themes (the busiest), this many per row.
TREND_PANELS = 12
TREND_COLUMNS = 4
CSV_FIELDS = ("theme", "theme_label", "column", "count", "negative_share", "mean_score", "priority")


def cjk_font_path() -> Path:
    """The bundled CJK font file (found without importing mplfonts, which configures matplotlib)."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the mplfonts package (CJK font for pictures) is not installed; install the project")
    path = Path(next(iter(spec.submodule_search_locations))) / CJK_FONT
    if not path.is_file():
        raise ModelError(f"{path}: missing from mplfonts; reinstall it")
    return path


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
    paths = [
        _write_json(heatmap, trend, out_dir / "heatmap.json"),
        _write_csv(heatmap, out_dir / "heatmap.csv"),
        _write_png(heatmap, out_dir / "heatmap.png"),
        _write_html(heatmap, out_dir / "heatmap.html", examples),
        _write_trend_png(trend, out_dir / "trend.png"),
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
            writer.writerow(
                [c.theme, labels.get(c.theme, c.theme), c.column, c.count,
                 f"{c.negative_share:.4f}", f"{c.mean_score:.4f}", f"{c.priority:.3f}"]
            )  # fmt: skip
    return path


def _pyplot() -> tuple[Any, Any]:
    """matplotlib's pyplot on the file-only backend, with the CJK font as default."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font = cjk_font_path()
    font_manager.fontManager.addfont(str(font))
    name = font_manager.FontProperties(fname=str(font)).get_name()
    plt.rcParams["font.family"] = [name, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt, matplotlib


def _write_png(heatmap: Heatmap, path: Path) -> Path:
    """Negative share as colour, count in each cell; rows labelled by theme, busiest first."""
    import numpy as np

    plt, _ = _pyplot()
    rows = [t for t in heatmap.themes if any(c.theme == t.id for c in heatmap.cells)] or list(heatmap.themes)
    columns = list(heatmap.columns)
    share = np.full((len(rows), len(columns)), np.nan)
    counts = np.zeros((len(rows), len(columns)), dtype=int)
    index = {(t.id, col): (i, j) for i, t in enumerate(rows) for j, col in enumerate(columns)}
    for cell in heatmap.cells:
        if (cell.theme, cell.column) in index:
            i, j = index[(cell.theme, cell.column)]
            share[i, j], counts[i, j] = cell.negative_share, cell.count
    width = min(24.0, 3.0 + 0.9 * max(1, len(columns)))
    height = min(30.0, 1.8 + 0.45 * max(1, len(rows)))
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    image = ax.imshow(np.ma.masked_invalid(share), cmap="RdYlGn_r", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(columns)), labels=columns, rotation=45 if len(columns) > 6 else 0, ha="right")
    ax.set_yticks(range(len(rows)), labels=[_row_label(t.label) for t in rows])
    for i in range(len(rows)):
        for j in range(len(columns)):
            if counts[i, j]:
                dark = share[i, j] > 0.75 or share[i, j] < 0.2
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")  # fmt: skip
    ax.set_title(f"需求热力图 · 主题 × {heatmap.dimension}(颜色 = 负面占比，数字 = 条数)")
    fig.colorbar(image, ax=ax, label="负面占比", fraction=0.03)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _row_label(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _write_trend_png(trend: Trend, path: Path) -> Path:
    """Small multiples: one panel per theme (the busiest), negative share per ISO week."""
    plt, _ = _pyplot()
    ranked = sorted(trend.series.items(), key=lambda kv: -sum(p.count for p in kv[1]))[:TREND_PANELS]
    panels = max(1, len(ranked))
    ncols = min(TREND_COLUMNS, panels)
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.4 * nrows), dpi=110, squeeze=False,
                             sharey=True)  # fmt: skip
    weeks = list(trend.weeks)
    position = {w: i for i, w in enumerate(weeks)}
    for k, ax in enumerate(axes.flat):
        if k >= len(ranked):
            ax.axis("off")
            continue
        theme, points = ranked[k]
        xs = [position[p.week] for p in points]
        ax.plot(xs, [p.negative_share for p in points], marker="o", markersize=3, color="#c0392b")
        ax.set_title(_row_label(trend.labels.get(theme, theme)), fontsize=9)
        ax.set_ylim(0, 1)
        ax.set_xticks(range(len(weeks)), labels=[w[-3:] for w in weeks], fontsize=6, rotation=90)
        ax.grid(alpha=0.3)
    if not ranked:
        axes.flat[0].text(0.5, 0.5, "没有带日期的条目", ha="center", va="center")
    fig.suptitle("各主题每周负面占比")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>需求热力图</title>
<style>
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:center;min-width:44px}
th.row{text-align:left;max-width:240px;font-weight:normal}
td.cell{cursor:default}
#tip{position:fixed;display:none;max-width:380px;background:#fff;border:1px solid #888;padding:8px;
box-shadow:0 2px 8px rgba(0,0,0,.2);font-size:12px;pointer-events:none}
#tip q{display:block;margin-top:4px;color:#555}
</style></head><body>
<h2>需求热力图 · 主题 × <span id="dim"></span></h2>
<p id="note"></p>
<table id="map"></table>
<div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
document.getElementById("dim").textContent = data.dimension;
document.getElementById("note").textContent =
  data.items + " 条；颜色 = 负面占比，数字 = 条数；" + data.counting +
  "。priority = " + data.priority_formula;
const cells = new Map(data.cells.map(c => [c.theme + "\\u0000" + c.column, c]));
const table = document.getElementById("map");
const head = table.insertRow();
head.appendChild(document.createElement("th"));
for (const col of data.columns) {
  const th = document.createElement("th"); th.textContent = col; head.appendChild(th);
}
function colour(share) {
  const r = Math.round(255 * Math.min(1, 2 * share)), g = Math.round(255 * Math.min(1, 2 * (1 - share)));
  return "rgb(" + r + "," + g + ",90)";
}
const tip = document.getElementById("tip");
for (const theme of data.themes) {
  const row = table.insertRow();
  const th = document.createElement("th"); th.className = "row";
  th.textContent = theme.label; th.title = theme.keywords.join("、"); row.appendChild(th);
  for (const col of data.columns) {
    const td = row.insertCell();
    const c = cells.get(theme.id + "\\u0000" + col);
    if (!c) continue;
    td.className = "cell"; td.textContent = c.count; td.style.background = colour(c.negative_share);
    td.addEventListener("mousemove", e => {
      tip.replaceChildren();
      const b = document.createElement("b"); b.textContent = theme.label + " · " + col; tip.appendChild(b);
      const p = document.createElement("div");
      p.textContent = "条数 " + c.count + "，负面占比 " + (100 * c.negative_share).toFixed(1) +
        "%，平均分 " + c.mean_score.toFixed(2) + "，优先级 " + c.priority.toFixed(1);
      tip.appendChild(p);
      for (const quote of (c.examples || [])) {
        const q = document.createElement("q"); q.textContent = quote; tip.appendChild(q);
      }
      tip.style.display = "block";
      tip.style.left = (e.clientX + 14) + "px"; tip.style.top = (e.clientY + 14) + "px";
    });
    td.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  }
}
</script></body></html>
"""


def _write_html(heatmap: Heatmap, path: Path, examples: Mapping[tuple[str, str], Sequence[str]] | None) -> Path:
    document = heatmap.to_dict()
    if examples is not None:
        for cell in document["cells"]:
            key = (cell["theme"], cell["column"])
            if key in examples:
                cell["examples"] = list(examples[key])
    payload = json.dumps(document, ensure_ascii=False)
    # Inside <script>, "</" could close the element early: a quote may contain "</script>".
    payload = payload.replace("</", "<\\/")
    return write_text_atomic(path, _HTML.replace("__DATA__", payload))
