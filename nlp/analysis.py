"""The analysis core that both edges call: items → results → demand themes → heatmap, trend and alerts.

The CLI (`kesheng analyze`) and the service (its batch worker) run the same steps through one
``Analysis``; each only decides where results go (files, database rows):

1. ``score(items)`` streams results: redaction, sentiment per text / turn / call, explanation;
2. ``fit_themes(sample)`` fits the demand model (nlp.aspects.themes) on a bounded sample of those
   results (``sampler()``), and
   ``ThemeFit.named(catalog)`` gives the discovered themes their ids from the catalogue of earlier ones
   (stable across batches and runs);
3. ``ThemeFit.apply(results)`` gives every aspect its theme and every result its themes, chunk by chunk;
4. ``aggregates(dimension)`` accumulates the heatmap, the trend and the alert conditions result by result.

Nothing here reads files beyond the bundled resources, the environment or a clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

from nlp.alerts import Alert, AlertRules, AlertState, Followup, load_rules
from nlp.alerts.engine import AlertAccumulator
from nlp.aspects.themes import DemandModel
from nlp.config import AnalysisConfig
from nlp.embed import Embedder
from nlp.heatmap import Heatmap, HeatmapAccumulator, Trend
from nlp.pipeline import Pipeline, build_pipeline
from nlp.schema import Item, Result
from nlp.sentiment import SentimentScorer
from nlp.taxonomy import Taxonomy, load_taxonomy
from nlp.themes import Theme, ThemeCatalog

T = TypeVar("T")


def with_theme_departments(rules: AlertRules, taxonomy: Taxonomy) -> AlertRules:
    """The rules with each taxonomy theme's own department routed by its exact id.

    The taxonomy owns the department of its themes; the rules' routing table still catches discovered
    themes by their words, and is the override when it names a theme id exactly.
    """
    routes = {**{t.id: t.department for t in taxonomy.themes}, **rules.routing.themes}
    return replace(rules, routing=replace(rules.routing, themes=routes))


class Reservoir(Generic[T]):
    """A seeded uniform sample of at most `size` of the values offered (Vitter's algorithm R)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seen = 0
        self.values: list[T] = []
        self._random = random.Random(seed)

    def offer(self, value: T) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
            return
        slot = self._random.randrange(self.seen)
        if slot < self.size:
            self.values[slot] = value


@dataclass(frozen=True)
class ThemeFit:
    """A fitted theme model and the catalogue ids of its discovered themes."""

    model: DemandModel | None
    themes: tuple[Theme, ...]
    renames: Mapping[str, str]
    catalog_overlap: float = 0.5

    def named(self, catalog: ThemeCatalog) -> tuple[ThemeFit, ThemeCatalog]:
        """This fit with its discovered themes under their catalogue ids and labels (new ones get the
        next free ids), and the updated catalogue. Cheap: the edges do it inside their lock."""
        if self.model is None:
            return self, catalog
        renames, catalog = catalog.assign(self.model.themes_, self.catalog_overlap)
        labels = {t.id: t.label for t in catalog.themes}
        themes = tuple(
            replace(t, id=renames[t.id], label=labels[renames[t.id]]) if t.id in renames else t
            for t in self.model.themes_
        )
        return replace(self, themes=themes, renames=renames), catalog

    def apply(self, results: Sequence[Result]) -> list[Result]:
        """`results` with their corpus keywords and theme ids (heaviest first)."""
        if self.model is None or not results:
            return list(results)
        themed = self.model.transform(results)
        if not self.renames:
            return themed
        rename = self.renames
        return [
            replace(
                r,
                themes=tuple(rename.get(t, t) for t in r.themes),
                theme_weights={rename.get(t, t): w for t, w in r.theme_weights.items()},
                aspects=tuple(replace(a, theme=rename.get(a.theme, a.theme)) if a.theme else a for a in r.aspects),
            )
            for r in themed
        ]


class Aggregates:
    """The heatmap, the trend and the alert conditions of a stream of results, in bounded memory."""

    def __init__(self, analysis: Analysis, dimension: str) -> None:
        self.dimension = dimension
        self.heatmap_ = HeatmapAccumulator((dimension,), analysis.config.heatmap)
        self.alerts_ = AlertAccumulator(analysis.rules)
        self.items = 0

    def add(self, result: Result) -> None:
        self.items += 1
        self.heatmap_.add(result)
        self.alerts_.add(result)

    def heatmap(self, themes: Sequence[Theme]) -> Heatmap:
        return self.heatmap_.heatmap(themes, self.dimension)

    def trend(self, themes: Sequence[Theme]) -> Trend:
        return self.heatmap_.trend(themes)

    def evaluate(self, state: AlertState, now: datetime) -> tuple[list[Alert], AlertState]:
        """Alerts raised now and the new state (the engine of nlp.alerts over what was added)."""
        return self.alerts_.evaluate(state, now)

    def followups(self, now: datetime, theme_labels: Mapping[str, str] | None = None) -> list[Followup]:
        """The follow-up list (回访清单) of what was added, most urgent first (nlp.alerts.followups)."""
        return self.alerts_.followups(now, theme_labels)


class Analysis:
    """The pipeline steps, taxonomy, rules and theme settings of one configuration, loaded once."""

    def __init__(
        self,
        config: AnalysisConfig,
        pipeline: Pipeline,
        taxonomy: Taxonomy,
        rules: AlertRules,
        embedder: Embedder | None = None,
    ) -> None:
        self.config = config
        self.base = pipeline
        self.taxonomy = taxonomy
        self.rules = with_theme_departments(rules, taxonomy)
        self.embedder = embedder

    @classmethod
    def load(
        cls,
        config: AnalysisConfig | None = None,
        *,
        scorer: SentimentScorer | None = None,
        taxonomy: Path | None = None,
        rules: Path | None = None,
        person_names: bool | None = None,
    ) -> Analysis:
        """Everything loaded from `config`; `taxonomy` / `rules` files and `person_names` override it.

        Rules: the given file, else the config's ``[alerts]``, else the bundled data/alerts.toml.
        Loads the NER model, dictionaries, lexicon and the keyword embedder: once per process.
        """
        from nlp.embed import E5Embedder

        config = config or AnalysisConfig()
        pipeline_config = config.pipeline
        if person_names is not None:
            pipeline_config = replace(
                pipeline_config, redaction=replace(pipeline_config.redaction, person_names=person_names)
            )
        config = replace(config, pipeline=pipeline_config)
        loaded_rules = load_rules(rules) if rules is not None else config.alerts or load_rules()
        loaded_taxonomy = load_taxonomy(taxonomy or config.themes.taxonomy)
        seeds = [seed for theme in loaded_taxonomy.themes for seed in theme.seeds]
        return cls(
            config,
            build_pipeline(pipeline_config, scorer=scorer, seeds=seeds),
            loaded_taxonomy,
            loaded_rules,
            # One embedder for every fit: it caches keyword vectors, so repeated words are embedded once.
            E5Embedder(),
        )

    # -- 1. results ----------------------------------------------------------------------------------

    def pipeline(self, scorer: SentimentScorer | None = None) -> Pipeline:
        """The pipeline with `scorer` (cheap: the loaded steps are shared, not rebuilt)."""
        base = self.base
        if scorer is None or scorer is base.scorer:
            return base
        return Pipeline(
            redactor=base.redactor,
            tokenizer=base.tokenizer,
            scorer=scorer,
            explainer=base.explainer,
            config=base.config,
            aspects=base.aspects,
            unit_polarity=base.unit_polarity,
        )

    def score(
        self, items: Iterable[Item], scorer: SentimentScorer | None = None, batch_size: int = 64
    ) -> Iterator[Result]:
        """Results of `items` in order, as they are produced."""
        return self.pipeline(scorer).pipe(items, batch_size=batch_size)

    # -- 2./3. themes --------------------------------------------------------------------------------

    def sampler(self) -> Reservoir[Result]:
        """The bounded sample the themes are fitted on (offer every result to it)."""
        return Reservoir(self.config.themes.fit_sample, self.config.themes.seed)

    def fit_themes(self, sample: Sequence[Result]) -> ThemeFit:
        """The theme model fitted on `sample`; its discovered themes are named by ``ThemeFit.named``."""
        if not sample:
            return ThemeFit(None, (), {})
        model = DemandModel(self.taxonomy, self.config.themes, embedder=self.embedder).fit(sample)
        return ThemeFit(model, tuple(model.themes_), {}, self.config.themes.catalog_overlap)

    # -- 4. aggregates -------------------------------------------------------------------------------

    def aggregates(self, dimension: str) -> Aggregates:
        return Aggregates(self, dimension)
