"""The analysis parts the service loads once and shares: pipeline steps, the model holder, themes, rules.

Real-time scoring and the batch worker both go through `Analyzer.pipeline()`, which wires the shared
steps to whatever scorer the ModelHolder holds at that moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from api.model_holder import ModelHolder
from api.settings import Settings
from nlp.alerts import AlertRules
from nlp.config import KeywordConfig, PipelineConfig, RedactionConfig
from nlp.pipeline import Pipeline, build_pipeline
from nlp.schema import Item, Result
from nlp.themes import Theme


class Analyzer:
    """Loads the redactor (with the NER model), tokenizer, lexicon, sentiment model, taxonomy and rules."""

    def __init__(self, settings: Settings, holder: ModelHolder | None = None) -> None:
        from kesheng.alerts_store import rules_or_default, with_theme_departments
        from nlp.embed import E5Embedder
        from nlp.taxonomy import load_taxonomy

        # The theme model recomputes every item's keywords over its batch; the pipeline need not.
        config = PipelineConfig(
            redaction=RedactionConfig(person_names=settings.redact_names), keywords=KeywordConfig(top_k=0)
        )
        self._base = build_pipeline(config)
        self.holder = holder or ModelHolder.load(
            settings.model_dir,
            self._base.scorer,
            use_lexicon=settings.lexicon,
            config=config.sentiment,
            threads=settings.model_threads,
        )
        self.taxonomy = load_taxonomy()
        # One embedder for every batch: it caches keyword vectors, so repeated words are embedded once.
        self.embedder = E5Embedder()
        rules = rules_or_default(settings.rules_path)
        self.rules: AlertRules = with_theme_departments(rules, {t.id: t.department for t in self.taxonomy.themes})

    @property
    def version(self) -> str:
        return self.holder.current()[1]

    def pipeline(self) -> Pipeline:
        """The pipeline with the currently held scorer (cheap: the steps are shared, not rebuilt)."""
        base = self._base
        return Pipeline(
            redactor=base.redactor,
            tokenizer=base.tokenizer,
            scorer=self.holder.current()[0],
            explainer=base.explainer,
            config=base.config,
        )

    def analyse(self, items: Sequence[Item]) -> list[Result]:
        """Results of `items`, in order, in as few model calls as the pipeline's batch size allows."""
        return list(self.pipeline().pipe(items, batch_size=max(1, len(items))))

    def themes(self, results: Sequence[Result], batch_id: int) -> tuple[list[Result], list[Theme]]:
        """Fit the demand themes of one batch (as `kesheng analyze` does) and apply them.

        Taxonomy themes keep their configured ids, so they add up across batches. A discovered theme is
        only meaningful within the batch it was found in, so its id is made unique: D01 of batch 7 is
        ``b7-D01``.
        """
        from nlp.themes import ThemeModel

        if not results:
            return [], []
        model = ThemeModel(self.taxonomy, embedder=self.embedder, tokenizer=self._base.tokenizer)
        themed = model.fit_transform(list(results))
        rename = {t.id: f"b{batch_id}-{t.id}" for t in model.themes_ if t.discovered}
        themes = [replace(t, id=rename.get(t.id, t.id)) for t in model.themes_]
        if rename:
            themed = [
                replace(
                    r,
                    themes=tuple(rename.get(t, t) for t in r.themes),
                    theme_weights={rename.get(t, t): w for t, w in r.theme_weights.items()},
                )
                for r in themed
            ]
        return themed, themes
