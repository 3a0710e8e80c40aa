"""The committed golden evaluation samples of the promotion gate (data/samples/golden/).

Each is a label-stratified random sample of one held-out evaluation set of ``training.pool``: texts
that are never in the training pool (the pool removes every evaluation text by ``match_key``), so a
model trained on the pool is judged on unseen texts. Small on purpose (the sources allow at most
small derived samples, see data/samples/golden/README.md); the full sets stay in runs/pool.

Run: ``python -m training.golden --pool runs/pool --out data/samples/golden``
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from pathlib import Path

from training.pool import Example, read_pool_tsv, write_tsv

SEED = 20261124
ROWS_PER_SET = 300
# Golden set name → the pool's evaluation file it is drawn from.
SOURCES = {
    "chnsenticorp_test": "eval_chnsenticorp_test.tsv",
    "waimai_heldout": "eval_waimai.tsv",
    "online_shopping_heldout": "eval_online_shopping.tsv",
}


def sample(rows: Sequence[tuple[int, str]], size: int, seed: str) -> list[tuple[int, str]]:
    """`size` rows (or all), each label in proportion to its share, in the file's order."""
    rng = random.Random(seed)
    chosen: set[int] = set()
    for label in sorted({label for label, _ in rows}):
        indices = [i for i, (lab, _) in enumerate(rows) if lab == label]
        rng.shuffle(indices)
        chosen.update(indices[: round(size * len(indices) / len(rows))])
    return [row for i, row in enumerate(rows) if i in chosen]


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write one <name>.tsv per golden set."""
    parser = argparse.ArgumentParser(description="Write the golden evaluation samples.")
    parser.add_argument("--pool", type=Path, default=Path("runs/pool"))
    parser.add_argument("--out", type=Path, default=Path("data/samples/golden"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, file in SOURCES.items():
        rows = sample(read_pool_tsv(args.pool / file), ROWS_PER_SET, f"{SEED}:{name}")
        digest = write_tsv(args.out / f"{name}.tsv", [Example(label, text, file) for label, text in rows])
        print(f"{name}: {len(rows)} rows, {sum(label for label, _ in rows)} positive, sha256 {digest}")


if __name__ == "__main__":
    main()
