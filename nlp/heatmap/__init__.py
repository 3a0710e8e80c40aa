"""The demand heatmap (需求热力图) and the weekly trend: pure aggregation over aspect mentions.

Rows are demand themes, columns the values of one segment dimension (tier, channel, region, product,
week ...). What is counted is a *mention* (``mentions_of``), as the alert rules count them (nlp.alerts.mentions):
each aspect of a result whose theme is set (nlp.schema.Aspect; in a call, the customer's) counts once in
its theme's row, with the aspect's own polarity and score, so 「味道不错，但是送餐太慢了」 is a positive
mention under 口味 and a negative one under 物流. A result with no themed aspect counts one mention, with
its own sentiment, in the row ``unassigned``, so no item is lost — or, when it has themes all the same
(analysed before aspects existed, as results stored by the service before issue 14 are), one under
each of its themes. A result with two mentions of one theme counts 2
mentions but 1 item there: ``items`` are the distinct results of a cell. Results without the dimension
go to the column "未知".

A cell carries its mentions, items, negatives (negative mentions), the negative share of its mentions
with a Wilson interval at ``HeatmapConfig.confidence`` (mentions are taken as independent draws; two
mentions of one answer are not quite, so the interval of such a cell is a little narrow), the mean
score of its mentions, the priority, ``sparse`` (fewer than ``min_mentions`` mentions: a share that
rests on too little to compare) and example quotes: the units (``Aspect.text``) of its most negative
mentions, distinct, most negative first. ``count`` is kept in the JSON as an alias of ``mentions`` for
clients of the first API version.

``priority`` = mentions × (negatives + m × p) / (mentions + m): the number of unhappy mentions the cell
stands for, with its negative share shrunk toward the overall share p by m pseudo-mentions
(HeatmapConfig.prior_items), so that 2 angry mentions out of 2 do not outrank 120 out of 200.

Columns are in the order a reader expects: tiers in ``HeatmapConfig.tier_order`` (钻石 → 黄金 → 白银 →
基础; tiers not listed after them, most mentioned first), weeks and ISO dates in time order, numbers
(an NPS) in numeric order, any other dimension most mentioned first; the unknown column last.

Everything is computed from a ``CellTally`` per cell, so a stream of any length is tallied in bounded
memory by ``HeatmapAccumulator``, and stored aggregates (api.aggregates) give the same heatmap through
``assemble_heatmap``.

The modules: ``mentions`` (what is counted, and in which column), ``quotes`` (a cell's examples),
``assemble`` (the cell arithmetic over tallies), ``accumulate`` (tallying a stream of results) and
``values`` (the heatmap and the trend, with their JSON forms).
"""

from __future__ import annotations

from nlp.heatmap.accumulate import HeatmapAccumulator, build_heatmap, build_trend
from nlp.heatmap.assemble import CellTally, assemble_heatmap, assemble_trend, order_columns, wilson_interval
from nlp.heatmap.mentions import (
    TIER,
    UNASSIGNED,
    WEEK,
    Mention,
    column_of,
    iso_week,
    mentions_by_theme,
    mentions_of,
    top_theme,
)
from nlp.heatmap.quotes import Quote, Rank, best_quotes, example_text, offer_quote
from nlp.heatmap.values import COUNTING, INTERVAL, PRIORITY_FORMULA, Cell, Heatmap, Trend, TrendPoint

__all__ = [
    "COUNTING",
    "INTERVAL",
    "PRIORITY_FORMULA",
    "TIER",
    "UNASSIGNED",
    "WEEK",
    "Cell",
    "CellTally",
    "Heatmap",
    "HeatmapAccumulator",
    "Mention",
    "Quote",
    "Rank",
    "Trend",
    "TrendPoint",
    "assemble_heatmap",
    "assemble_trend",
    "best_quotes",
    "build_heatmap",
    "build_trend",
    "column_of",
    "example_text",
    "iso_week",
    "mentions_by_theme",
    "mentions_of",
    "offer_quote",
    "order_columns",
    "top_theme",
    "wilson_interval",
]
