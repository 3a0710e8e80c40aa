"""Score the training pool with a teacher model, for distilling it into a smaller student.

Run: ``python -m training.teacher --model models/default --pool runs/pool/train.tsv
--out runs/pool/teacher_logits.npy``

The teacher is any kesheng model folder (ONNX, as the runtime loads it); long texts are scored over
their sentence windows like in service. The logits are raw (before the manifest's temperature),
one row per pool row in order, float32 [n, 2].
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlp.config import SentimentConfig
from nlp.sentiment.transformer import TransformerScorer
from training.pool import read_pool_tsv


def teacher_logits(model: Path, pool: Path, chunk: int = 2048) -> np.ndarray:
    """Logits [rows of `pool`, 2] (float32) of the model in `model`."""
    scorer = TransformerScorer.load(model, SentimentConfig())
    texts = [text for _, text in read_pool_tsv(pool)]
    started = time.monotonic()
    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(scorer.logits(texts[start : start + chunk]).astype(np.float32))
        done = min(len(texts), start + chunk)
        print(f"{done}/{len(texts)} texts, {done / (time.monotonic() - started):.0f} texts/s", flush=True)
    return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.float32)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write the teacher's logits next to the pool."""
    parser = argparse.ArgumentParser(description="Score the training pool with a teacher model.")
    parser.add_argument("--model", type=Path, default=Path("models/default"), help="teacher model folder")
    parser.add_argument("--pool", type=Path, default=Path("runs/pool/train.tsv"))
    parser.add_argument("--out", type=Path, default=Path("runs/pool/teacher_logits.npy"))
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    logits = teacher_logits(args.model, args.pool)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, logits)
    print(f"wrote {args.out} {logits.shape}")


if __name__ == "__main__":
    main()
