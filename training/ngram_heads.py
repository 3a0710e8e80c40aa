"""Multi-class character n-gram heads next to an exported three-way model (training.export_multihead).

Run: ``python -m training.ngram_heads --model runs/multitask/model [--heads emotion polarity]``

The folder's n-gram model (hashed character 1–3-grams, sublinear TF-IDF: ``nlp.sentiment.ngram``)
already reads every text for the binary split; a head is a multinomial logistic regression on the
same features, so it costs one sparse product at run time. ``emotion`` is fitted on the EWECT
training posts, ``polarity`` on the JDDC training turns with the sampled reviews and the EWECT posts'
polarity. Each head's weight against the transformer's log-probabilities is picked on its dev set
(EWECT usual dev, JDDC dev: macro-F1, weights 0 … 0.7), the emotion temperature is refitted on the
mix, and the folder's manifest (``ngram_heads``, metrics) and model card are rewritten with the
figures of the folder as the runtime loads it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from models.evaluate import read_labelled
from nlp.schema import EMOTIONS
from nlp.sentiment.ngram import NgramHead, save_heads
from nlp.sentiment.transformer import TransformerScorer
from training.calibrate import fit_temperature_classes
from training.datasets import EMOTION_POLARITY, load_tasks
from training.export_multihead import BINARY_SETS, Set, figures
from training.model_card_multihead import render_multihead_card
from training.multitask import MultitaskConfig, read_reviews

C = {"emotion": 2.0, "polarity": 4.0}  # sklearn's C, chosen on the dev sets (bench/README.md)
WEIGHTS = np.round(np.arange(0.0, 0.7001, 0.1), 2)


def _fit(features: Any, labels: Sequence[int], c: float, n_features: int) -> NgramHead:
    regression = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(features, np.asarray(labels))
    coef = regression.coef_.T  # [n_features, classes]
    rows = np.flatnonzero(np.abs(coef).sum(axis=1) > 0)
    return NgramHead.build(rows, coef[rows], regression.intercept_, n_features)


def fit(folder: Path, shared: Path, pool: Path, heads: Sequence[str]) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    config = MultitaskConfig(**manifest["config"]["multitask"])
    manifest["ngram_heads"] = {}
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    scorer = TransformerScorer.load(folder)
    ngram = scorer.ngram
    if ngram is None:
        raise SystemExit(f"{folder}: no n-gram model to put heads on")
    n_features = ngram.params.n_features
    tasks = load_tasks(
        shared, seed=config.split_seed, jddc_dev_share=config.jddc_dev_share, usual_dev_share=config.usual_dev_share
    )
    fitted: dict[str, NgramHead] = {}
    chosen: dict[str, float] = {}
    report: dict[str, Any] = {}
    for name in heads:
        if name == "emotion":
            texts, labels = list(tasks.emotion_train.texts), list(tasks.emotion_train.labels)
            dev_texts, dev_labels = list(tasks.emotion_dev.texts), list(tasks.emotion_dev.labels)
        else:
            reviews = read_reviews(pool / "train.tsv", config.reviews, config.seed)
            moods = [
                (t, EMOTION_POLARITY[EMOTIONS[y]])
                for t, y in zip(tasks.emotion_train.texts, tasks.emotion_train.labels, strict=True)
                if EMOTIONS[y] in EMOTION_POLARITY
            ]
            texts = list(tasks.jddc_train.texts) + list(reviews.texts) + [t for t, _ in moods]
            labels = list(tasks.jddc_train.labels) + list(reviews.labels) + [p for _, p in moods]
            dev_texts, dev_labels = list(tasks.jddc_dev.texts), list(tasks.jddc_dev.labels)
        head = _fit(ngram.features(texts), labels, C[name], n_features)
        polarity, emotion = scorer.outputs(dev_texts)
        own = log_softmax(emotion if name == "emotion" else polarity, axis=1)
        theirs = head.log_probabilities(ngram.features(dev_texts))
        scores = {
            float(w): float(f1_score(dev_labels, ((1 - w) * own + w * theirs).argmax(1), average="macro"))
            for w in WEIGHTS
        }
        weight = max(scores, key=lambda w: (scores[w], -w))
        fitted[name], chosen[name] = head, weight
        report[name] = {"rows": len(head.rows), "weight": weight, "dev_macro_f1_by_weight": scores}
        print(
            f"{name} head: {len(head.rows)} features, weight {weight} (dev macro-F1 {scores[weight]:.4f})", flush=True
        )
        if name == "emotion":
            manifest["emotion_temperature"] = 1.0

    chosen = {name: weight for name, weight in chosen.items() if weight > 0}  # a head that does not help is left out
    save_heads(folder, {name: fitted[name] for name in chosen})
    manifest["ngram_heads"] = chosen
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    scorer = TransformerScorer.load(folder)
    if "emotion" in chosen:
        _p, mixed = scorer.outputs(list(tasks.emotion_dev.texts))
        assert mixed is not None
        manifest["emotion_temperature"] = round(fit_temperature_classes(mixed, list(tasks.emotion_dev.labels)), 5)
    if "polarity" in chosen:  # refitted on the sets export_multihead fitted it on
        csc = read_labelled(pool / BINARY_SETS["chnsenticorp_dev"])
        mixed, _e = scorer.outputs(list(tasks.jddc_dev.texts) + list(csc.texts))
        labels = list(tasks.jddc_dev.labels) + [2 * y for y in csc.labels]
        manifest["temperature"] = round(fit_temperature_classes(mixed, labels), 5)
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    scorer = TransformerScorer.load(folder)
    sets = {n: m["kind"] for n, m in manifest["metrics"].items() if isinstance(m, dict) and "kind" in m}
    for name, kind in sets.items():
        if kind == "binary":
            labelled = read_labelled(pool / BINARY_SETS[name])
            texts, labels = list(labelled.texts), list(labelled.labels)
        elif kind == "three_way":
            texts, labels = list(tasks.jddc_dev.texts), list(tasks.jddc_dev.labels)
        else:
            texts, labels = list(tasks.emotion_dev.texts), list(tasks.emotion_dev.labels)
        polarity, emotion = scorer.outputs(texts)
        assert emotion is not None
        shipped = figures(Set(name, kind, texts, [], labels), polarity.astype(np.float32), emotion.astype(np.float32))
        manifest["metrics"][name]["shipped"] = shipped
    manifest["metrics"]["ngram_heads"] = report
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / "MODEL_CARD.md").write_text(render_multihead_card(manifest), encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fit the multi-class n-gram heads of an exported three-way model.")
    parser.add_argument("--model", type=Path, default=Path("runs/multitask/model"))
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pool", type=Path, default=Path("runs/pool"))
    parser.add_argument("--heads", nargs="+", choices=("emotion", "polarity"), default=["emotion", "polarity"])
    args = parser.parse_args(argv)
    manifest = fit(args.model, args.shared, args.pool, args.heads)
    for name, entry in manifest["metrics"].items():
        if isinstance(entry, dict) and isinstance(entry.get("shipped"), dict):
            shipped = entry["shipped"]
            print(name, {k: shipped[k] for k in ("accuracy", "macro_f1", "roc_auc", "neutral_share") if k in shipped})


if __name__ == "__main__":
    main()
