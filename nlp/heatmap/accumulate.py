"""Tallying results one at a time (``HeatmapAccumulator``), in memory bounded by the cells rather than
the results; ``build_heatmap`` and ``build_trend`` are the accumulator fed with a list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nlp.config import HeatmapConfig
from nlp.heatmap.assemble import CellTally, assemble_heatmap, assemble_trend
from nlp.heatmap.mentions import Mention, column_of, iso_week, mentions_by_theme
from nlp.heatmap.quotes import Quote, example_text, offer_quote
from nlp.heatmap.values import Heatmap, Trend
from nlp.schema import Result
from nlp.themes import Theme


class _RunningCell:
    """A cell being filled one result at a time: its counts, and its best quotes so far (bounded)."""

    __slots__ = ("items", "mentions", "negatives", "score_sum", "top")

    def __init__(self) -> None:
        self.mentions = 0
        self.items = 0
        self.negatives = 0
        self.score_sum = 0.0
        self.top: list[Quote] = []

    def add(self, group: Sequence[Mention], item_id: str, arrival: int, config: HeatmapConfig) -> None:
        """Count one item's mentions of this cell's theme."""
        self.items += 1
        limit = config.examples_per_cell
        for mention in group:
            self.mentions += 1
            self.negatives += mention.negative
            self.score_sum += mention.score
            rank = (-mention.negative_probability, item_id, arrival, mention.unit)
            # Below the last of a full list, a quote cannot enter (its text, if there, ranks better).
            if limit > 0 and (len(self.top) < limit or rank < self.top[-1][0]):
                text = example_text(mention.text, config)
                if text:
                    offer_quote(self.top, (rank, text), limit)

    def tally(self) -> CellTally:
        return CellTally(self.mentions, self.items, self.negatives, self.score_sum, tuple(t for _, t in self.top))


class HeatmapAccumulator:
    """The heatmaps of some dimensions and the weekly trend, tallied one result at a time.

    Memory grows with the cells (themes × columns of each dimension, themes × weeks), not with the
    results: a cell keeps four numbers and its ``examples_per_cell`` best quotes. Feed it with
    ``add``/``update``, then read ``heatmap(themes, dimension)`` and ``trend(themes)``; reading does not
    change it, so it may be read, fed more, and read again. ``theme`` keeps only that theme's mentions
    (the service's theme filter; ``unassigned`` is a theme here). ``build_heatmap`` and ``build_trend``
    are this accumulator fed with a list.
    """

    def __init__(
        self, dimensions: Sequence[str] = (), config: HeatmapConfig | None = None, theme: str | None = None
    ) -> None:
        self.dimensions = tuple(dict.fromkeys(dimensions))
        self.config = config or HeatmapConfig()
        self.theme = theme
        self.items_ = 0  # results counted (with a mention of `theme`, when given)
        self.seen_ = 0  # results offered
        self._cells: dict[str, dict[tuple[str, str], _RunningCell]] = {d: {} for d in self.dimensions}
        self._weeks: dict[tuple[str, str], list[int]] = {}

    def add(self, result: Result) -> None:
        """Count one result's mentions in every dimension's heatmap and, when it has a date, in the trend."""
        arrival = self.seen_
        self.seen_ += 1
        groups = mentions_by_theme(result)
        if self.theme is not None:
            groups = {theme: group for theme, group in groups.items() if theme == self.theme}
            if not groups:
                return
        self.items_ += 1
        for dimension, cells in self._cells.items():
            column = column_of(result, dimension, self.config.unknown_column)
            for theme, group in groups.items():
                cell = cells.get((theme, column))
                if cell is None:
                    cell = cells[(theme, column)] = _RunningCell()
                cell.add(group, result.id, arrival, self.config)
        week = iso_week(result.meta.get("date"))
        if week is not None:
            for theme, group in groups.items():
                tally = self._weeks.setdefault((theme, week), [0, 0, 0])
                tally[0] += len(group)
                tally[1] += 1
                tally[2] += sum(m.negative for m in group)

    def update(self, results: Iterable[Result]) -> HeatmapAccumulator:
        """``add`` each result (a list or a stream); returns the accumulator."""
        for result in results:
            self.add(result)
        return self

    def tallies(self, dimension: str) -> dict[tuple[str, str], CellTally]:
        """The tally of every non-empty (theme, column) cell of ``dimension``."""
        return {key: cell.tally() for key, cell in self._dimension(dimension).items()}

    def heatmap(self, themes: Sequence[Theme], dimension: str | None = None) -> Heatmap:
        """The heatmap of ``dimension`` (by default the first one asked for) over what was added."""
        if dimension is None:
            if not self.dimensions:
                raise ValueError("this HeatmapAccumulator tallies no dimension: pass dimensions=(...) to it")
            dimension = self.dimensions[0]
        return assemble_heatmap(dimension, themes, self.tallies(dimension), self.items_, self.config)

    def trend(self, themes: Sequence[Theme]) -> Trend:
        """The weekly trend of what was added (items without a date are left out)."""
        counts = {key: (m, i, n) for key, (m, i, n) in self._weeks.items()}
        return assemble_trend(themes, counts, self.config)

    def _dimension(self, dimension: str) -> dict[tuple[str, str], _RunningCell]:
        if dimension not in self._cells:
            raise ValueError(
                f"dimension {dimension!r} was not tallied; this HeatmapAccumulator tallies "
                f"{list(self.dimensions)} (pass the dimension when creating it)"
            )
        return self._cells[dimension]


def build_heatmap(
    results: Iterable[Result],
    themes: Sequence[Theme],
    dimension: str,
    config: HeatmapConfig | None = None,
    theme: str | None = None,
) -> Heatmap:
    """The heatmap of ``results`` over ``dimension`` (only ``theme``'s mentions, when given); rows in
    the order of ``themes`` (themes without mentions are kept, so ids stay visible), then
    ``unassigned`` and themes not listed."""
    return HeatmapAccumulator((dimension,), config, theme).update(results).heatmap(themes, dimension)


def build_trend(
    results: Iterable[Result], themes: Sequence[Theme], config: HeatmapConfig | None = None, theme: str | None = None
) -> Trend:
    """Negative share of each theme's mentions per ISO week, counted as in the heatmap (only
    ``theme``'s, when given); items without a date are left out. Themes in the order given, then
    ``unassigned`` and themes not listed."""
    return HeatmapAccumulator((), config, theme).update(results).trend(themes)


__all__ = ["HeatmapAccumulator", "build_heatmap", "build_trend"]
