"""The aspect sets of ``../shared/data/absa`` (yangheng95/ABSADatasets, MIT), read for fitting and
benchmarks.

- **Restaurant sentences** (``chinese_zhang_{dev,test}.csv``): ``sent_id,text,aspect,opinion,polarity``,
  one row per aspect–opinion–polarity triplet, partly in Traditional Chinese (normalised here like any
  input); the aspect is ``NULL`` when the sentence judges without naming. Trap: a BOM inside some
  texts (in the aspect and opinion columns too).
- **Product aspect terms** (``{phone,camera,car,notebook}_{train,test}.csv``): the sentence with its
  aspect term in brackets, and Positive / Negative.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from nlp.normalize import normalize
from nlp.schema import Aspect

# The folder beside the checkout, as ../shared/data/README.md places it.
ABSA = Path(__file__).resolve().parents[2] / "shared" / "data" / "absa"
PRODUCT_DOMAINS = ("phone", "camera", "car", "notebook")


class Triplet(NamedTuple):
    aspect: str  # "NULL" when the sentence judges without naming
    opinion: str
    polarity: str  # negative / neutral / positive

    @property
    def names_a_term(self) -> bool:
        """Whether an annotated aspect term is judged with one of the three polarities."""
        return self.aspect not in ("NULL", "") and self.polarity in ("negative", "neutral", "positive")


class ProductTerm(NamedTuple):
    domain: str
    text: str
    term: str
    polarity: str  # negative / positive


def read_restaurant(folder: Path, names: Sequence[str], limit: int = 0) -> list[tuple[str, list[Triplet]]]:
    """Sentences of ``chinese_zhang_{name}.csv`` with their triplets (aspect and opinion normalised)."""
    sentences: dict[tuple[str, str], tuple[str, list[Triplet]]] = {}
    for name in names:
        with (folder / f"chinese_zhang_{name}.csv").open(encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                text = row["text"].replace("\ufeff", "")
                entry = sentences.setdefault((name, row["sent_id"]), (text, []))
                aspect = normalize(row["aspect"].replace("\ufeff", ""))
                opinion = normalize(row["opinion"].replace("\ufeff", ""))
                entry[1].append(Triplet(aspect, opinion, row["polarity"].lower()))
    out = list(sentences.values())
    return out[:limit] if limit else out


def read_products(folder: Path, split: str, limit: int = 0) -> list[ProductTerm]:
    """The bracketed aspect terms of the four product sets' ``split`` (train or test)."""
    out = []
    for domain in PRODUCT_DOMAINS:
        with (folder / f"{domain}_{split}.csv").open(encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                marked = row["text_with_[aspect]"]
                text = marked.replace("[", "").replace("]", "")
                out.append(ProductTerm(domain, text, row["aspect"], row["polarity"].lower()))
    return out[:limit] if limit else out


def overlaps(a: str, b: str) -> bool:
    """Whether two spans name the same thing: one holds the other."""
    return bool(a) and bool(b) and (a in b or b in a)


def term_aspect(aspects: Sequence[Aspect], term: str) -> Aspect | None:
    """The aspect reading an annotated term: of those whose term overlaps it, the one that judges it
    (主食选择了疙瘩汤 only names it)."""
    matches = [a for a in aspects if overlaps(a.term, term)]
    return next((a for a in matches if a.opinion), matches[0] if matches else None)


def unit_aspect(aspects: Sequence[Aspect], term: str) -> Aspect | None:
    """The first aspect whose unit holds the term (the product sets' bracketed terms)."""
    return next((a for a in aspects if normalize(term) in normalize(a.text)), None)


__all__ = [
    "PRODUCT_DOMAINS",
    "ProductTerm",
    "Triplet",
    "overlaps",
    "read_products",
    "read_restaurant",
    "term_aspect",
    "unit_aspect",
]
