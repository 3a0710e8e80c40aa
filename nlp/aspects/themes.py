"""Demand themes of aspects: taxonomy themes by seed words and by meaning, discovered demands from
aspect–opinion pairs, scikit-learn style (``fit`` on a sample of results, ``transform`` any of them).

An aspect (an opinion unit with its term and opinion, nlp.aspects.extract) gets, in this order:

1. the taxonomy theme of a seed word inside its term (物流速度 ⊃ 物流; longest seed first), or of the
   seed words its term is inside when they are all one theme's (量 ⊂ 菜量, 量少);
2. the taxonomy theme its term means: the term's embedding (multilingual-e5-small, ``Embedder``) is
   at least ``ThemeConfig.seed_similarity`` from one of the theme's seed words (送餐 → 送货, 0.92)
   and that seed stands out from the term's mean similarity to all seeds by ``seed_margin``,
   for the terms frequent enough in the fitted sample to be embedded (the vocabulary);
3. the taxonomy theme of a seed word elsewhere in the unit (而且很贵 → 价格 by the seed 贵; 下次还会再来
   by 再来), for units whose term is missing or themeless;
4. the taxonomy theme its opinion judges in this corpus: an opinion that, in the fitted sample, nearly
   always judges one theme when the unit names it (新鲜, 咸 → 口味; 热情 → 服务员) carries that theme
   to units that judge without naming it or name a dish (三文鱼很新鲜), unless the term is step 5's;
5. a discovered demand: a frequent term no taxonomy theme covers, with the terms that mean the same
   merged into it, labelled by the term and its most frequent opinion (送餐·慢, 分量·少);
6. else none (不错, 很满意: generic praise is not a demand).

Discovered demands are numbered D01, D02 … per fit; ``nlp.themes.ThemeCatalog`` maps them onto
earlier ones by their terms, so ids stay stable across batches. An item's themes are the themes of
its aspects, the most mentioned first, weighted by their share of the item's themed aspects.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from nlp.config import ThemeConfig
from nlp.embed import Embedder, FloatArray
from nlp.resources import data_path
from nlp.schema import Aspect, Result
from nlp.taxonomy import Taxonomy, seed_pattern
from nlp.themes.theme import Theme
from nlp.tokenize import read_word_list

# Opinions that judge the whole thing, not an aspect of it: a term seen only with these (苹果·好,
# 衣服·不错) is a product or filler, not a demand, so they do not count towards discovering one.
GENERIC_OPINIONS_FILE = ("aspects", "generic_opinions.txt")


DISCOVERED_PREFIX = "D"  # discovered demands are D01, D02 … (the catalogue keeps that form)


def _opinion_key(opinion: str) -> str:
    """An opinion without its negator: 不新鲜 and 新鲜 are about the same thing."""
    return opinion[1:] if opinion.startswith("不") and len(opinion) > 1 else opinion


def _usage(aspects: Sequence[Aspect], generic: frozenset[str]) -> dict[str, _Term]:
    """How each term is used (judged with a specific opinion or none; generic praise is left out)."""
    usage: dict[str, _Term] = defaultdict(_Term)
    for aspect in aspects:
        if not aspect.term or aspect.opinion in generic:
            continue
        use = usage[aspect.term]
        use.mentions += 1
        if aspect.opinion:
            use.opinions[aspect.opinion] += 1
    return usage


@dataclass
class _Term:
    """How a term is used in the fitted sample."""

    mentions: int = 0
    opinions: Counter[str] = field(default_factory=Counter)


class DemandModel:
    """Taxonomy themes and discovered demands of aspects (see the module docstring).

    ``fit`` sets ``themes_`` (taxonomy themes then discovered demands) and ``term_theme_`` (each
    vocabulary term's theme, None for a term that is no demand); ``transform`` returns the results
    with their aspects' themes and the items' themes.
    """

    def __init__(self, taxonomy: Taxonomy, config: ThemeConfig | None = None, embedder: Embedder | None = None) -> None:
        self.taxonomy = taxonomy
        self.config = config or ThemeConfig()
        self.embedder = embedder
        self._seed_theme = {seed: t.id for t in taxonomy.themes for seed in t.seeds}
        self._seeds = seed_pattern(self._seed_theme)
        self._generic = read_word_list(data_path(*GENERIC_OPINIONS_FILE))  # read when built, not at import

    # -- fitting ------------------------------------------------------------------------------------

    def fit(self, results: Sequence[Result]) -> DemandModel:
        config = self.config
        aspects = [a for r in results for a in r.aspects]
        usage = _usage(aspects, self._generic)
        frequent = (t for t, u in usage.items() if u.mentions >= config.min_df)
        vocabulary = sorted(frequent, key=lambda t: (-usage[t].mentions, t))[: config.max_vocabulary]
        self.term_theme_: dict[str, str | None] = {}
        embedded = [t for t in vocabulary if self._term_seed_theme(t) is None]
        vectors = self._embed(embedded)
        self._meaning(embedded, vectors)
        for term in vocabulary:
            theme = self._term_seed_theme(term)
            if theme is not None:
                self.term_theme_[term] = theme
                continue
            # A term inside seed words (量 in 菜量, 量少) is their theme; inside the seeds of several
            # themes (菜 in 上菜 and 菜量) it is none of them, and no discovered demand either.
            inside = {self._seed_theme[seed] for seed in self._seed_theme if term in seed}
            if len(inside) == 1:
                self.term_theme_[term] = inside.pop()
            elif inside:
                self.term_theme_[term] = None
        self.opinion_theme_ = self._associate(aspects)
        self.themes_ = [
            Theme(t.id, t.label, tuple(t.seeds[: config.keywords_per_theme]), t.department, discovered=False)
            for t in self.taxonomy.themes
        ]
        # What no taxonomy theme covers, directly or through its opinion, may be a discovered demand.
        open_usage = _usage([a for a in aspects if self._taxonomy_theme(a) is None], self._generic)
        open_terms = [t for t in embedded if t not in self.term_theme_ and t in open_usage]
        self.themes_ += self._discover(open_terms, vectors, embedded, open_usage)
        return self

    def _meaning(self, terms: Sequence[str], vectors: FloatArray) -> None:
        """Terms whose embedding is close to one seed word (and not to all of them) join its theme."""
        seeds = list(self._seed_theme)
        if not len(terms) or not seeds or self.embedder is None:
            return
        similarity = vectors @ self.embedder.embed(seeds).T
        best = similarity.argmax(axis=1)
        # A term close to every seed (a hub: 个人, 订单) is close to none: the best seed must also
        # stand out from the term's mean similarity to all of them.
        margin = similarity[np.arange(len(terms)), best] - similarity.mean(axis=1)
        for i, term in enumerate(terms):
            seed = seeds[best[i]]
            if len(term) < 2 or self._near_by_characters(term, seed):
                continue
            if similarity[i, best[i]] >= self.config.seed_similarity and margin[i] >= self.config.seed_margin:
                self.term_theme_[term] = self._seed_theme[seed]

    def _near_by_characters(self, term: str, seed: str) -> bool:
        """Whether a term is near its nearest seed by the characters they share rather than by meaning
        (multilingual-e5-small rates 菜品 · 菜量 0.947 and 小笼包 · 包间 0.912). So it is when the term is
        inside the seed (菜 in 上菜); when a shared character is also in another theme's seeds (菜 is in
        上菜 and in 菜量, so 凉菜, 蔬菜 and 菜品 belong to neither by it); or when the shared character is
        the head of one word and the modifier of the other (晚餐 is a meal, 餐具 tableware; 包 ends
        小笼包 and starts 包间). 送餐 · 送货 share 送 at the same end and nowhere else, and still count."""
        if term in seed:
            return True
        shared = set(term) & set(seed)
        if not shared:
            return False
        theme = self._seed_theme[seed]
        if any(ch in other for ch in shared for other, t in self._seed_theme.items() if t != theme):
            return True
        return not (term[0] == seed[0] in shared or term[-1] == seed[-1] in shared)

    def _associate(self, aspects: Sequence[Aspect]) -> dict[str, str]:
        """Opinions that, in this corpus, nearly always judge one taxonomy theme when the unit names it
        (新鲜 → 口味, 热情 → 服务): units judging without naming, or naming a dish, get it too."""
        config = self.config
        themed: dict[str, Counter[str]] = defaultdict(Counter)
        total: Counter[str] = Counter()
        for aspect in aspects:
            key = _opinion_key(aspect.opinion)
            if not key or key in self._generic:
                continue
            total[key] += 1
            theme = self._direct_theme(aspect)
            if theme is not None:
                themed[key][theme] += 1
        out: dict[str, str] = {}
        for key, counts in themed.items():
            theme = min(counts, key=lambda t: (-counts[t], t))  # ties by id: independent of the order
            n = counts[theme]
            if (
                n >= config.opinion_min_mentions
                and n >= config.opinion_purity * sum(counts.values())
                and n >= config.opinion_coverage * total[key]
            ):
                out[key] = theme
        return out

    def _embed(self, terms: Sequence[str]) -> FloatArray:
        if not terms or self.embedder is None:
            return np.zeros((len(terms), 0), dtype=np.float32)
        return self.embedder.embed(terms)

    def _term_seed_theme(self, term: str) -> str | None:
        if self._seeds is None:
            return None
        match = self._seeds.search(term)
        return self._seed_theme[match.group()] if match else None

    def _discover(
        self,
        open_terms: Sequence[str],
        vectors: FloatArray,
        embedded: Sequence[str],
        usage: dict[str, _Term],
    ) -> list[Theme]:
        """Frequent open terms become demands; a term that means the same as a bigger one joins it."""
        config = self.config
        row = {t: i for i, t in enumerate(embedded)}
        groups: list[list[str]] = []
        centres: list[FloatArray] = []
        for term in sorted(open_terms, key=lambda t: (-usage[t].mentions, t)):
            vector = vectors[row[term]] if vectors.shape[1] else None
            if vector is not None and centres:
                similarity = np.stack(centres) @ vector
                nearest = int(similarity.argmax())
                if similarity[nearest] >= config.merge_similarity:
                    groups[nearest].append(term)
                    continue
            groups.append([term])
            centres.append(vector if vector is not None else np.zeros(0, dtype=np.float32))
        demands: list[Theme] = []
        for terms in groups:
            mentions = sum(usage[t].mentions for t in terms)
            judged = sum(usage[t].opinions.total() for t in terms)
            if (
                mentions < config.min_theme_items
                or judged < config.min_judged_share * mentions
                or len(demands) >= config.max_discovered
            ):
                for t in terms:
                    self.term_theme_.setdefault(t, None)
                continue
            theme_id = f"{DISCOVERED_PREFIX}{len(demands) + 1:02d}"
            for t in terms:
                self.term_theme_[t] = theme_id
            demands.append(
                Theme(theme_id, self._label(terms, usage), tuple(terms[: config.keywords_per_theme]), discovered=True)
            )
        return demands

    def _label(self, terms: Sequence[str], usage: dict[str, _Term]) -> str:
        """送餐·慢: the main term with the opinion it draws most. From the words alone, not from the
        sentiment labels: a label flipping near 0.5 must not rename a demand (the CLI and the service
        score in different batches)."""
        opinions: Counter[str] = Counter()
        for t in terms:
            opinions.update(usage[t].opinions)
        if not opinions:
            return terms[0]
        # Ties go to the opinion that sorts first: the label must not depend on the order results came in.
        opinion = min(opinions, key=lambda o: (-opinions[o], o))
        return f"{terms[0]}·{opinion}"

    # -- applying -----------------------------------------------------------------------------------

    def _direct_theme(self, aspect: Aspect) -> str | None:
        """A taxonomy theme named in the unit: a seed in its term, its term's meaning, a seed in its text."""
        term = aspect.term
        if term:
            theme = self._term_seed_theme(term)
            if theme is not None:
                return theme
            theme = self.term_theme_.get(term)
            if theme is not None and not theme.startswith(DISCOVERED_PREFIX):
                return theme
        if self._seeds is not None:
            match = self._seeds.search(aspect.text)
            if match:
                return self._seed_theme[match.group()]
        return None

    def _taxonomy_theme(self, aspect: Aspect) -> str | None:
        theme = self._direct_theme(aspect)
        if theme is None and not self._discovered_term(aspect.term):
            theme = self.opinion_theme_.get(_opinion_key(aspect.opinion))
        return theme

    def _discovered_term(self, term: str) -> bool:
        theme = self.term_theme_.get(term) if term else None
        return theme is not None and theme.startswith(DISCOVERED_PREFIX)

    def aspect_theme(self, aspect: Aspect) -> str | None:
        """The theme of one aspect (the steps of the module docstring)."""
        theme = self._taxonomy_theme(aspect)
        if theme is None and self._discovered_term(aspect.term):
            theme = self.term_theme_[aspect.term]
        return theme

    def transform(self, results: Sequence[Result]) -> list[Result]:
        if not hasattr(self, "themes_"):
            raise RuntimeError("DemandModel.transform before fit")
        return [self._apply(r) for r in results]

    def _apply(self, result: Result) -> Result:
        aspects = tuple(replace(a, theme=self.aspect_theme(a)) for a in result.aspects)
        counts = Counter(a.theme for a in aspects if a.theme is not None)
        total = sum(counts.values())
        first = {theme: i for i, theme in reversed(list(enumerate(a.theme for a in aspects)))}
        themes = sorted(counts, key=lambda t: (-counts[t], first[t]))
        return replace(
            result,
            aspects=aspects,
            themes=tuple(themes),
            theme_weights={t: round(counts[t] / total, 4) for t in themes},
        )


__all__ = ["DemandModel"]
