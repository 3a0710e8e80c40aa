"""The clean training pool and the evaluation sets, built from the public sentiment data.

Evaluation sets: ChnSentiCorp test (and dev, the tuning set) as published, plus held-out splits
made here from waimai_10k (stratified by label) and online_shopping_10_cats (stratified by
category and label). The training pool is ChnSentiCorp train + htl_all + the rest of waimai and
online_shopping, with every evaluation text removed, duplicates removed and texts whose copies
disagree on the label dropped entirely.

Texts are matched by `match_key` (folded whitespace, half-width ASCII, simplified Chinese, no
spaces), which is stricter than "identical after whitespace normalisation": ChnSentiCorp mixes
traditional and simplified copies of the same review, and a traditional copy of a test review
in training would inflate the scores just as well.

Run: ``python -m training.pool --shared ../shared/data --out runs/pool``
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nlp.errors import InputError, Location
from nlp.files import sha256_file
from nlp.normalize import fold_whitespace, normalize

POSITIVE = 1
NEGATIVE = 0
EVAL_NAMES = ("chnsenticorp_test", "chnsenticorp_dev", "waimai", "online_shopping")


@dataclass(frozen=True)
class PoolConfig:
    """Everything that decides the pool's content; recorded in stats.json."""

    seed: int = 20241123
    waimai_eval_fraction: float = 0.10
    online_shopping_eval_fraction: float = 0.05


@dataclass(frozen=True)
class Example:
    """One labelled text; `group` is the stratum beyond the label (online_shopping's category)."""

    label: int
    text: str
    source: str
    group: str = ""


@dataclass
class SourceStats:
    """What happened to one input file's rows."""

    rows: int = 0
    bom_stripped: int = 0
    empty_dropped: int = 0


@dataclass
class PoolStats:
    """Counts for every reason a row was removed, and the sizes of what was written."""

    sources: dict[str, SourceStats] = field(default_factory=dict)
    # Within waimai / online_shopping before splitting, so no text sits on both sides of a split.
    split_source_duplicates: dict[str, int] = field(default_factory=dict)
    split_source_conflicts: dict[str, int] = field(default_factory=dict)
    train_candidates: int = 0
    removed_overlap: dict[str, int] = field(default_factory=dict)
    removed_duplicates: int = 0
    removed_conflicting: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pool:
    """The training pool and the evaluation sets, in a stable order."""

    train: list[Example]
    evals: dict[str, list[Example]]
    stats: PoolStats


def clean_text(text: str) -> str:
    """Strip BOMs and zero-width characters and fold every whitespace run to one space."""
    return fold_whitespace(text.replace("\ufeff", ""))


def match_key(text: str) -> str:
    """The key under which two texts count as the same text (overlap, duplicates, conflicts)."""
    return normalize(text).replace(" ", "")


def _label(value: str, location: Location) -> int:
    value = value.strip()
    if value not in ("0", "1"):
        raise InputError(location, f"label must be 0 or 1, got {value!r}")
    return int(value)


def _clean_rows(rows: Iterable[tuple[int, str, str, str]], source: str, stats: SourceStats) -> list[Example]:
    """(row number, label, text, group) → cleaned examples; counts BOMs and drops empty texts."""
    out: list[Example] = []
    for number, label_value, text, group in rows:
        stats.rows += 1
        location = Location(source, number, "label")
        label = _label(label_value, location)
        if "\ufeff" in text:
            stats.bom_stripped += 1
        cleaned = clean_text(text)
        if not cleaned:
            stats.empty_dropped += 1
            continue
        out.append(Example(label, cleaned, source, clean_text(group)))
    return out


def read_tsv_split(path: Path, stats: SourceStats) -> list[Example]:
    """A LUGE ChnSentiCorp split: header `label<TAB>text_a`, then one row per line, no quoting."""
    rows: list[tuple[int, str, str, str]] = []
    with path.open(encoding="utf-8-sig") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:2] != ["label", "text_a"]:
            raise InputError(Location(str(path), 1), f"expected header label<TAB>text_a, got {header}")
        for number, line in enumerate(handle, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            label, sep, text = line.partition("\t")
            if not sep:
                raise InputError(Location(str(path), number, "text_a"), "no tab-separated text")
            rows.append((number, label, text, ""))
    return _clean_rows(rows, str(path), stats)


def read_review_csv(path: Path, stats: SourceStats) -> list[Example]:
    """A SophonPlus CSV: columns `label,review` and optionally `cat` (kept as the stratum)."""
    rows: list[tuple[int, str, str, str]] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        for field_name in ("label", "review"):
            if field_name not in (reader.fieldnames or []):
                raise InputError(Location(str(path), 1, field_name), "column missing from the header")
        for number, record in enumerate(reader, start=2):
            rows.append((number, record["label"] or "", record["review"] or "", record.get("cat") or ""))
    return _clean_rows(rows, str(path), stats)


def deduplicate(examples: Sequence[Example]) -> tuple[list[Example], int, int]:
    """Keep the first copy of each text; drop every copy of a text whose copies disagree on the label.

    Returns (kept, duplicate rows removed, conflicting rows removed).
    """
    labels_by_key: dict[str, set[int]] = {}
    for example in examples:
        labels_by_key.setdefault(match_key(example.text), set()).add(example.label)
    kept: list[Example] = []
    seen: set[str] = set()
    duplicates = conflicting = 0
    for example in examples:
        key = match_key(example.text)
        if len(labels_by_key[key]) > 1:
            conflicting += 1
        elif key in seen:
            duplicates += 1
        else:
            seen.add(key)
            kept.append(example)
    return kept, duplicates, conflicting


def stratified_split(
    examples: Sequence[Example],
    fraction: float,
    seed: int,
    stratum: Callable[[Example], object],
    minimum: int = 0,
) -> tuple[list[Example], list[Example]]:
    """Hold out `fraction` of every stratum (rounded), chosen by a seeded shuffle; at least `minimum`
    of a stratum that has more than `minimum` examples (so a small one still has some on both sides).

    Returns (held_out, rest), each in the input order, so the result depends only on the seed.
    """
    by_stratum: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        by_stratum.setdefault(repr(stratum(example)), []).append(index)
    rng = random.Random(seed)
    held: set[int] = set()
    for name in sorted(by_stratum):
        indices = list(by_stratum[name])
        rng.shuffle(indices)
        count = round(fraction * len(indices))
        if len(indices) > minimum:
            count = max(count, minimum)
        held.update(indices[:count])
    held_out = [e for i, e in enumerate(examples) if i in held]
    rest = [e for i, e in enumerate(examples) if i not in held]
    return held_out, rest


def assemble(
    *,
    chnsenticorp_train: Sequence[Example],
    chnsenticorp_dev: Sequence[Example],
    chnsenticorp_test: Sequence[Example],
    htl_all: Sequence[Example],
    waimai: Sequence[Example],
    online_shopping: Sequence[Example],
    config: PoolConfig,
    stats: PoolStats | None = None,
) -> Pool:
    """Split, remove evaluation texts from training, deduplicate and drop conflicts (pure, in memory)."""
    stats = stats or PoolStats()
    waimai_unique, dup, conf = deduplicate(waimai)
    stats.split_source_duplicates["waimai"], stats.split_source_conflicts["waimai"] = dup, conf
    shopping_unique, dup, conf = deduplicate(online_shopping)
    stats.split_source_duplicates["online_shopping"] = dup
    stats.split_source_conflicts["online_shopping"] = conf

    waimai_eval, waimai_rest = stratified_split(
        waimai_unique, config.waimai_eval_fraction, config.seed, lambda e: e.label
    )
    shopping_eval, shopping_rest = stratified_split(
        shopping_unique, config.online_shopping_eval_fraction, config.seed, lambda e: (e.group, e.label)
    )
    evals = {
        "chnsenticorp_test": list(chnsenticorp_test),
        "chnsenticorp_dev": list(chnsenticorp_dev),
        "waimai": waimai_eval,
        "online_shopping": shopping_eval,
    }
    eval_keys = {name: {match_key(e.text) for e in rows} for name, rows in evals.items()}

    candidates = [*chnsenticorp_train, *htl_all, *waimai_rest, *shopping_rest]
    stats.train_candidates = len(candidates)
    stats.removed_overlap = dict.fromkeys(EVAL_NAMES, 0)
    outside_eval: list[Example] = []
    for example in candidates:
        key = match_key(example.text)
        # Counted under the first evaluation set that holds the text.
        hit = next((name for name in EVAL_NAMES if key in eval_keys[name]), None)
        if hit is None:
            outside_eval.append(example)
        else:
            stats.removed_overlap[hit] += 1
    train, stats.removed_duplicates, stats.removed_conflicting = deduplicate(outside_eval)

    for name, rows in [("train", train), *evals.items()]:
        stats.sizes[name] = len(rows)
        counts = Counter(e.label for e in rows)
        stats.labels[name] = {"positive": counts[POSITIVE], "negative": counts[NEGATIVE]}
    return Pool(train, evals, stats)


def build_pool(shared: Path, config: PoolConfig) -> Pool:
    """Read the public data under `shared` (the folder holding sentiment/) and assemble the pool."""
    base = shared / "sentiment"
    stats = PoolStats()

    def load(name: str, reader: Callable[[Path, SourceStats], list[Example]], rel: str) -> list[Example]:
        stats.sources[name] = SourceStats()
        return reader(base / rel, stats.sources[name])

    return assemble(
        chnsenticorp_train=load("chnsenticorp_train", read_tsv_split, "chnsenticorp/train.tsv"),
        chnsenticorp_dev=load("chnsenticorp_dev", read_tsv_split, "chnsenticorp/dev.tsv"),
        chnsenticorp_test=load("chnsenticorp_test", read_tsv_split, "chnsenticorp/test.tsv"),
        htl_all=load("htl_all", read_review_csv, "chnsenticorp/htl_all.csv"),
        waimai=load("waimai", read_review_csv, "waimai_10k.csv"),
        online_shopping=load("online_shopping", read_review_csv, "online_shopping_10_cats.csv"),
        config=config,
        stats=stats,
    )


def write_tsv(path: Path, examples: Iterable[Example]) -> str:
    """Write `label<TAB>text` with a header (csv dialect, quoted only when needed); returns its sha256."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["label", "text"])
        writer.writerows([e.label, e.text] for e in examples)
    return sha256_file(path)


def read_pool_tsv(path: Path) -> list[tuple[int, str]]:
    """Read a file written by `write_tsv` back as (label, text) pairs."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader, None)
        return [(_label(row[0], Location(str(path), n, "label")), row[1]) for n, row in enumerate(reader, 2)]


def write_pool(pool: Pool, out: Path, config: PoolConfig) -> None:
    """Write train.tsv, eval_<name>.tsv and stats.json (with the config and every output's sha256)."""
    out.mkdir(parents=True, exist_ok=True)
    pool.stats.sha256["train.tsv"] = write_tsv(out / "train.tsv", pool.train)
    for name, rows in pool.evals.items():
        pool.stats.sha256[f"eval_{name}.tsv"] = write_tsv(out / f"eval_{name}.tsv", rows)
    report = {"config": asdict(config), **asdict(pool.stats)}
    (out / "stats.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build the pool from --shared and write it to --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--out", type=Path, default=Path("runs/pool"), help="output folder")
    parser.add_argument("--seed", type=int, default=PoolConfig.seed)
    args = parser.parse_args(argv)
    config = PoolConfig(seed=args.seed)
    pool = build_pool(args.shared, config)
    write_pool(pool, args.out, config)
    print(json.dumps({"sizes": pool.stats.sizes, "removed_overlap": pool.stats.removed_overlap}, indent=1))


if __name__ == "__main__":
    main()
