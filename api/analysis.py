"""The analysis the service loads once and shares: the core (nlp.analysis) and the model holder.

Real-time scoring and the batch worker both go through `Analyzer.pipeline()`, which wires the core's
loaded steps to whatever scorer the ModelHolder holds at that moment.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.model_holder import ModelHolder
from api.settings import Settings
from nlp.alerts import AlertRules
from nlp.analysis import Analysis
from nlp.aspects.themes import DemandModel
from nlp.config import AnalysisConfig
from nlp.pipeline import Pipeline
from nlp.schema import Item, Result
from nlp.taxonomy import Taxonomy


class Analyzer:
    """The core of `config` (redactor with the NER model, tokenizer, lexicon, taxonomy, rules) and the model."""

    def __init__(
        self, settings: Settings, holder: ModelHolder | None = None, config: AnalysisConfig | None = None
    ) -> None:
        self.core = Analysis.load(
            config, taxonomy=settings.themes_path, rules=settings.rules_path, person_names=settings.redact_names
        )
        self.holder = holder or ModelHolder.load(
            settings.model_dir,
            self.core.base.scorer,
            use_lexicon=settings.lexicon,
            config=self.core.config.pipeline.sentiment,
            threads=settings.model_threads,
        )
        # The rules alerts are evaluated with after each batch (a copy of the analyzer may replace them).
        self.rules: AlertRules = self.core.rules
        # Real-time texts have no corpus to fit themes on: their aspects get the taxonomy's seed themes.
        self._seeded = DemandModel(self.core.taxonomy, self.core.config.themes).fit([])

    @property
    def taxonomy(self) -> Taxonomy:
        return self.core.taxonomy

    @property
    def version(self) -> str:
        return self.holder.current()[1]

    def pipeline(self) -> Pipeline:
        """The pipeline with the currently held scorer (cheap: the steps are shared, not rebuilt)."""
        return self.core.pipeline(self.holder.current()[0])

    def seed_themes(self, results: Sequence[Result]) -> list[Result]:
        """`results` with the taxonomy themes their aspects name by seed words (real-time scoring)."""
        return self._seeded.transform(results)

    def redact(self, text: str) -> str:
        """`text` (a note, a comment) with personal data replaced as in answers, names included."""
        return self.core.base.redactor(text).text if text else text

    def analyse(self, items: Sequence[Item]) -> list[Result]:
        """Results of `items`, in order, in as few model calls as the pipeline's batch size allows."""
        return list(self.pipeline().pipe(items, batch_size=max(1, len(items))))
