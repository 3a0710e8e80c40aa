"""kesheng's bundled data as package data: dictionaries, stopwords, lexicon, taxonomy, alert rules,
the demo samples and the golden sets. Found through ``nlp.resources`` (importlib.resources), so a
wheel installed anywhere finds them; nothing to import here."""
