"""The theme model: keywords → embeddings → taxonomy themes + discovered clusters → items (see nlp.themes)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from nlp.config import CorpusKeywordConfig, ThemeConfig
from nlp.embed import E5Embedder, Embedder
from nlp.errors import NotFittedError
from nlp.keywords import KeywordExtractor, TermCounts
from nlp.schema import Result
from nlp.taxonomy import Taxonomy
from nlp.themes.theme import Theme
from nlp.themes.vectors import FloatArray, context_vectors, normalise, principal_axes
from nlp.tokenize import Tokenizer


@dataclass
class _Cluster:
    """A theme while it is learned: its centre (discovered themes) and how often each keyword is
    used by its items (for its keyword list)."""

    id: str
    label: str
    department: str
    discovered: bool
    centre: FloatArray | None = None
    radius: float = -1.0
    usage: Counter[str] = field(default_factory=Counter)
    items: int = 0


@dataclass(frozen=True)
class _Batch:
    """A batch of items as the model sees them: each item's keyword TF-IDF scores, the normalised
    TF-IDF weighted sum of its open (non-taxonomy) keywords' features, and the TF-IDF mass behind
    that vector (0 for an item without open keywords)."""

    scores: list[dict[str, float]]
    vectors: FloatArray
    mass: FloatArray


class ThemeModel:
    """Demand themes over a corpus of results, scikit-learn style.

    ``__init__`` stores parameters; ``fit`` sets ``themes_``, ``vocabulary_``, ``term_theme_`` and
    ``keywords_`` (the fitted KeywordExtractor) and returns self; ``transform`` returns the results
    with better keywords and their themes (ids ordered by weight); ``weights`` gives the weights.
    The tokenizer should be the pipeline's (loading one takes seconds); the embedder defaults to
    ``E5Embedder``.
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        config: ThemeConfig | None = None,
        embedder: Embedder | None = None,
        tokenizer: Tokenizer | None = None,
        keyword_config: CorpusKeywordConfig | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.config = config
        self.embedder = embedder
        self.tokenizer = tokenizer
        self.keyword_config = keyword_config

    # -- fitting ------------------------------------------------------------------------------------

    def fit(self, results: Sequence[Result]) -> ThemeModel:
        """Learn keyword statistics and themes from ``results``; returns self."""
        self._fit_counts(list(self._start().pipe(results)))
        return self

    def fit_transform(self, results: Sequence[Result]) -> list[Result]:
        """``fit`` then ``transform``, tagging each item once instead of twice."""
        batch = self._fit_counts(list(self._start().pipe(results)))
        return self._apply(results, batch)

    def partial_fit(self, results: Sequence[Result]) -> ThemeModel:
        """Add a batch: statistics grow, existing themes keep their ids, centres and keywords' themes;
        items far from every theme may form new discovered themes. Fits from scratch when unfitted."""
        if not hasattr(self, "themes_"):
            return self.fit(results)
        counts = list(self.keywords_.pipe(results))
        self.keywords_.partial_fit_counts(counts)
        self._add_vocabulary(self._new_vocabulary(), counts)
        self._cluster(self._batch(counts), keep_existing=True)
        self._publish()
        return self

    def _start(self) -> KeywordExtractor:
        self.config_ = self.config or ThemeConfig()
        self.embedder_ = self.embedder or E5Embedder()
        self.keywords_ = KeywordExtractor(self.tokenizer or Tokenizer(), self.keyword_config)
        self.vocabulary_: list[str] = []
        self.term_theme_: dict[str, str] = {}
        self._taxonomy_terms: set[str] = set()
        self._index: dict[str, int] = {}
        self._features = np.zeros((0, 0), dtype=np.float32)
        self._embedding_mean: FloatArray | None = None
        # Longest seed first, so 服务态度 wins over 服务 inside 客服服务态度.
        self._seeds = sorted(
            ((seed, t.id) for t in self.taxonomy.themes for seed in t.seeds), key=lambda pair: -len(pair[0])
        )
        self._seed_memo: dict[str, str | None] = {}
        self._seed_vectors = self.embedder_.embed([seed for seed, _ in self._seeds]) if self._seeds else None
        self._clusters: dict[str, _Cluster] = {
            t.id: _Cluster(t.id, t.label, t.department, discovered=False) for t in self.taxonomy.themes
        }
        return self.keywords_

    def _fit_counts(self, counts: Sequence[TermCounts]) -> _Batch:
        self.keywords_.fit_counts(counts)
        self._add_vocabulary(self._new_vocabulary(), counts)
        batch = self._batch(counts)
        self._cluster(batch, keep_existing=False)
        self._publish()
        return batch

    def _new_vocabulary(self) -> list[str]:
        """Keywords frequent enough to embed, not yet known, most frequent first (ties by text)."""
        config, df = self.config_, self.keywords_.document_frequency_
        threshold = max(config.min_df, config.min_df_share * self.keywords_.n_documents_)
        fresh = sorted((t for t, n in df.items() if n >= threshold and t not in self._index), key=lambda t: (-df[t], t))
        return fresh[: max(0, config.max_vocabulary - len(self._index))]

    def _add_vocabulary(self, terms: list[str], counts: Sequence[TermCounts]) -> None:
        """Embed new keywords, give taxonomy keywords their theme, and build every keyword's features:
        its centred embedding and (first fit only) its co-occurrence context."""
        if not terms:
            return
        config = self.config_
        vectors = self.embedder_.embed(terms)
        if self._embedding_mean is None:
            # e5 vectors share a large common direction (every pair has cosine > 0.8); removing the
            # corpus mean lets k-means see the differences.
            self._embedding_mean = vectors.mean(axis=0)
        centred = normalise(vectors - self._embedding_mean)
        for term, vector in zip(terms, vectors, strict=True):
            theme = self._taxonomy_theme(term, vector)
            if theme is not None:
                self.term_theme_[term] = theme
                self._taxonomy_terms.add(term)
        w = config.context_weight if config.context_weight > 0 else 0.0
        if self._features.size == 0:
            context = context_vectors(terms, counts, config.context_dimensions, config.seed)
            features = normalise(np.hstack([np.sqrt(1 - w) * centred, np.sqrt(w) * context]))
            # k-means and every item vector work in a reduced space (measured: 448 → 64 dimensions
            # makes clustering 100,000 items several times faster at the same NMI).
            self._projection = principal_axes(features, config.feature_dimensions, config.seed)
        else:
            # Later batches have no context basis to fold into; their keywords place by meaning
            # alone, which keeps the existing themes' space unchanged.
            context_width = self._projection.shape[0] - centred.shape[1]
            features = np.hstack([centred, np.zeros((len(terms), context_width), dtype=np.float32)])
        start = len(self.vocabulary_)
        self.vocabulary_.extend(terms)
        self._index.update((t, start + i) for i, t in enumerate(terms))
        block = normalise((features @ self._projection).astype(np.float32))
        self._features = block if self._features.size == 0 else np.vstack([self._features, block])

    def _seed_theme(self, term: str) -> str | None:
        """The taxonomy theme of the longest seed inside ``term`` (memoised: keywords repeat a lot)."""
        if term not in self._seed_memo:
            self._seed_memo[term] = next((theme for seed, theme in self._seeds if seed in term), None)
        return self._seed_memo[term]

    def _taxonomy_theme(self, term: str, vector: FloatArray | None = None) -> str | None:
        """The taxonomy theme a keyword belongs to: by a seed inside it, else by a close seed."""
        theme = self._seed_theme(term)
        if theme is not None:
            return theme
        # A single character's embedding is mostly noise (门 lands next to 上门).
        if vector is None or self._seed_vectors is None or len(term) < 2:
            return None
        similarity = self._seed_vectors @ vector
        best = int(np.argmax(similarity))
        return self._seeds[best][1] if similarity[best] >= self.config_.seed_similarity else None

    def _batch(self, counts: Sequence[TermCounts]) -> _Batch:
        """Scores, open-keyword vectors and masses of a batch of items (see ``_Batch``)."""
        from scipy import sparse

        scores = [self.keywords_.scores(c) for c in counts]
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for row, item in enumerate(scores):
            for term, score in item.items():
                col = self._index.get(term)
                if col is not None and term not in self._taxonomy_terms:
                    rows.append(row)
                    cols.append(col)
                    values.append(score)
        weights = sparse.csr_matrix((values, (rows, cols)), shape=(len(scores), max(1, len(self._index))))
        width = self._features.shape[1] if self._features.size else 1
        vectors = np.asarray(weights @ self._features, dtype=np.float32) if self._features.size else None
        mass = np.asarray(weights.sum(axis=1), dtype=np.float32).ravel()
        if vectors is None:
            vectors = np.zeros((len(scores), width), dtype=np.float32)
        return _Batch(scores, normalise(vectors), mass)

    def _cluster(self, batch: _Batch, *, keep_existing: bool) -> None:
        """Discovered themes: k-means (k by silhouette) over the items' open-keyword vectors.

        Themes are found among items, then described by their keywords: an item stands for the
        keywords said together, which single keywords out of context cannot (头发 + 洗发水 + 头屑).
        With ``keep_existing`` the known centres stay; only items far from all of them are clustered.
        """
        config = self.config_
        open_items = np.flatnonzero(batch.mass > 0)
        nearest, similarity = self._nearest(batch.vectors[open_items])
        if keep_existing and nearest:
            radius = np.array([self._clusters[t].radius for t in nearest])
            open_items = open_items[similarity < radius]
            if len(open_items) < config.min_theme_items * 2:
                open_items = open_items[:0]
        self._new_centres(batch.vectors[open_items])
        # Describe every theme by the items it has (taxonomy themes by their own keywords).
        for item, shares in zip(batch.scores, self._shares(batch), strict=True):
            for theme in shares:
                cluster = self._clusters[theme]
                cluster.items += 1
                cluster.usage.update(t for t in item if t in self._index)
        self._assign_open_keywords()
        self._radii(batch.vectors[batch.mass > 0])

    def _new_centres(self, vectors: FloatArray) -> None:
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        config = self.config_
        if len(vectors) > config.cluster_sample:
            rng = np.random.default_rng(config.seed)
            vectors = vectors[np.sort(rng.choice(len(vectors), config.cluster_sample, replace=False))]
        high = min(config.max_discovered, len(vectors) // config.min_theme_items)
        low = max(2, config.min_discovered)
        if high < low:
            return
        best: tuple[float, FloatArray, npt.NDArray[np.int32]] | None = None
        for k in range(low, high + 1):
            model = KMeans(n_clusters=k, n_init=config.kmeans_init, random_state=config.seed).fit(vectors)
            labels = model.labels_
            if len(np.unique(labels)) < 2:
                continue  # identical keyword vectors (a very repetitive batch) make one cluster only
            score = float(
                silhouette_score(
                    vectors,
                    labels,
                    metric="cosine",
                    sample_size=min(len(vectors), 2000),
                    random_state=config.seed,
                )
            )
            if best is None or score > best[0]:
                best = (score, normalise(model.cluster_centers_.astype(np.float32)), labels)
        if best is None:
            return
        _, centres, labels = best
        sizes = np.bincount(labels, minlength=len(centres))
        # Biggest first, so D01 is the busiest new theme; ties by the centre's first coordinate.
        order = sorted(range(len(centres)), key=lambda c: (-sizes[c], float(centres[c][0])))
        number = 1 + sum(1 for c in self._clusters.values() if c.discovered)
        for c in order:
            if sizes[c] < config.min_theme_items:
                continue
            theme_id = f"D{number:02d}"
            number += 1
            self._clusters[theme_id] = _Cluster(theme_id, "", "", discovered=True, centre=centres[c])

    def _discovered(self) -> list[_Cluster]:
        return [c for c in self._clusters.values() if c.discovered and c.centre is not None]

    def _nearest(self, vectors: FloatArray) -> tuple[list[str], FloatArray]:
        """The nearest discovered theme of each vector, and the cosine to its centre."""
        clusters = self._discovered()
        if not clusters or not len(vectors):
            return [], np.zeros(0, dtype=np.float32)
        similarity = vectors @ np.stack([c.centre for c in clusters if c.centre is not None]).T
        best = similarity.argmax(axis=1)
        return [clusters[i].id for i in best], similarity[np.arange(len(vectors)), best]

    def _radii(self, vectors: FloatArray) -> None:
        """How close a new item must be to a theme to join it: the ``join_quantile`` of its own items."""
        themes, similarity = self._nearest(vectors)
        by_theme: dict[str, list[float]] = defaultdict(list)
        for theme, value in zip(themes, similarity, strict=True):
            by_theme[theme].append(float(value))
        for cluster in self._discovered():
            if cluster.radius < 0 and by_theme[cluster.id]:
                cluster.radius = float(np.quantile(by_theme[cluster.id], self.config_.join_quantile))

    def _assign_open_keywords(self) -> None:
        """Each open keyword goes to the discovered theme whose items use it most distinctively
        (class-based TF-IDF, as BERTopic's representation); earlier assignments are kept."""
        discovered = self._discovered()
        if not discovered:
            return
        df = self.keywords_.document_frequency_
        average = sum(c.items for c in discovered) / len(discovered)
        for term in self.vocabulary_:
            if term in self.term_theme_:
                continue
            scored = [(c.usage[term] * np.log1p(average / max(1, df[term])), c.id) for c in discovered]
            best_score, best_id = max(scored)
            if best_score > 0:
                self.term_theme_[term] = best_id

    def _publish(self) -> None:
        """``themes_`` from the clusters: taxonomy themes first, in configured order, then discovered."""
        config, df = self.config_, self.keywords_.document_frequency_
        seeds = {t.id: t.seeds for t in self.taxonomy.themes}
        members: dict[str, list[str]] = defaultdict(list)
        for term, theme in self.term_theme_.items():
            members[theme].append(term)
        themes: list[Theme] = []
        for cluster in self._clusters.values():
            if cluster.discovered:
                average = max(1.0, cluster.items)
                ranked = sorted(
                    members[cluster.id],
                    key=lambda t: (-cluster.usage[t] * np.log1p(average / max(1, df[t])), t),
                )
            else:
                ranked = sorted(members[cluster.id], key=lambda t: (-df[t], t))
            keywords = tuple(ranked[: config.keywords_per_theme]) or seeds.get(cluster.id, ())
            label = cluster.label or "·".join(ranked[: config.label_words]) or cluster.id
            themes.append(Theme(cluster.id, label, keywords, cluster.department, cluster.discovered))
        self.themes_ = themes

    # -- applying -----------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "themes_"):
            raise NotFittedError("ThemeModel is not fitted: call fit(results) first")

    def transform(self, results: Sequence[Result]) -> list[Result]:
        """The results with corpus-ranked keywords and their theme ids (heaviest first)."""
        self._check_fitted()
        return self._apply(results, self._batch(list(self.keywords_.pipe(results))))

    def weights(self, results: Sequence[Result]) -> list[dict[str, float]]:
        """Per item, its themes' shares of its themed keyword weight (summing to 1; {} if none)."""
        self._check_fitted()
        return self._shares(self._batch(list(self.keywords_.pipe(results))))

    def _shares(self, batch: _Batch) -> list[dict[str, float]]:
        """Taxonomy themes get the TF-IDF of their keywords; the open keywords' mass goes to the
        discovered theme nearest to the item. Shares of the total, heaviest first."""
        nearest, _ = self._nearest(batch.vectors)
        out: list[dict[str, float]] = []
        for row, scores in enumerate(batch.scores):
            totals: dict[str, float] = defaultdict(float)
            for term, score in scores.items():
                if term in self._index and term not in self._taxonomy_terms:
                    continue  # an open keyword: counted in the mass
                theme = self.term_theme_.get(term) if term in self._index else self._taxonomy_theme(term)
                if theme is not None:
                    totals[theme] += score
            if nearest and batch.mass[row] > 0:
                totals[nearest[row]] += float(batch.mass[row])
            whole = sum(totals.values())
            ranked = sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))
            out.append({theme: weight / whole for theme, weight in ranked} if whole > 0 else {})
        return out

    def _apply(self, results: Sequence[Result], batch: _Batch) -> list[Result]:
        config = self.config_
        out: list[Result] = []
        for result, scores, shares in zip(results, batch.scores, self._shares(batch), strict=True):
            themes = [t for t, share in shares.items() if share >= config.min_item_share][: config.max_item_themes]
            keywords = self.keywords_.top_keywords(scores)
            weights = {t: round(shares[t], 4) for t in themes}
            out.append(replace(result, keywords=keywords, themes=tuple(themes), theme_weights=weights))
        return out
