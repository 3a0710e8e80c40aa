"""Three-way polarity and six-emotion baselines on dev splits built from ../shared/data (issue 13).

Measures, on seeded dev splits (nothing from the hidden test sets, which are not in the folder):

- a character 1–3-gram TF-IDF + logistic regression (scikit-learn) on JDDC satisfaction, three-way
  (dissatisfied / neutral / satisfied read as negative / neutral / positive), for two views of a
  labelled line: the last customer turn alone, and all customer turns so far joined;
- the same baseline on six EWECT emotions: trained on ewect_virus_train (+ virus_eval), evaluated on
  ewect_usual_eval (the "usual" eval split; the usual test split is not used);
- today's binary model (``TransformerScorer``, negative_probability) read three ways on the JDDC dev
  part, with SentimentConfig's neutral band and with the band tuned on the JDDC train part.

JDDC file traps handled by ``training.datasets.read_jddc``: each dialogue appears as many lines, each a longer
prefix (then a 16-turn sliding window) of the same dialogue, so lines are grouped into dialogues and
split by dialogue; each dialogue ends with a line whose last "user turn" is the marker ``OVERALL``
(the whole dialogue's label, not customer text) — those lines are counted and left out.

Run from the repository root:
``python bench/three_way_baselines.py [--model models/default] [--model-n 0] [--no-model-joined]
[--ewect-usual-folds 5] [--seed 13] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: nlp/ is imported from the checkout

from nlp.config import BINARY_BAND  # noqa: E402
from nlp.normalize import normalize  # noqa: E402
from training import datasets  # noqa: E402
from training.datasets import JddcLine, read_jddc  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
JDDC_FILE = DATA / "transcripts" / "jddc_satisfaction_valid.txt"
# Which labelled virus files train the emotion baseline (all are in the folder; none is "usual").
EWECT_VIRUS = {
    "train": ("emotion/ewect_virus_train.tsv",),
    "train+eval": ("emotion/ewect_virus_train.tsv", "emotion/ewect_virus_eval.tsv"),
    "all": ("emotion/ewect_virus_train.tsv", "emotion/ewect_virus_eval.tsv", "emotion/ewect_virus_test.tsv"),
}
EWECT_EVAL = "emotion/ewect_usual_eval.tsv"
POLARITY = ("negative", "neutral", "positive")  # JDDC satisfaction 0 / 1 / 2, in that order
EMOTIONS = ("angry", "sad", "fear", "surprise", "happy", "neutral")
JOIN = "。"  # customer turns joined into one text; a sentence end, so the model windows them sensibly
SEED = 13
DEV_SHARE = 0.2
# The baseline's settings, in one place (class_weight balanced: JDDC is half neutral).
NGRAM_RANGE = (1, 3)
MIN_DF = 2
MAX_FEATURES = 200_000
LR_C = 4.0
BAND_GRID = np.round(np.arange(0.05, 1.0, 0.025), 3)

Labels = npt.NDArray[np.int64]


def view_texts(lines: Sequence[JddcLine], view: str) -> list[str]:
    """The text of each line in one view: ``last_turn`` or ``joined`` (all customer turns so far)."""
    return [x.last_turn if view == "last_turn" else JOIN.join(x.user_turns) for x in lines]


def split_by_dialogue(lines: Sequence[JddcLine], seed: int) -> tuple[list[JddcLine], list[JddcLine]]:
    """80/20 by dialogue (training.datasets' split, as the model's dev dialogues)."""
    return datasets.split_by_dialogue(lines, seed, DEV_SHARE)


def read_ewect(name: str) -> tuple[list[str], Labels, int]:
    """Texts and emotion indices of an EWECT file (header ``label<TAB>text``); returns the skipped count."""
    texts: list[str] = []
    labels: list[int] = []
    skipped = 0
    with (DATA / name).open(encoding="utf-8") as handle:
        next(handle)
        for raw in handle:
            label, _, text = raw.rstrip("\n").partition("\t")
            if label not in EMOTIONS or not text.strip():
                skipped += 1
                continue
            texts.append(normalize(text))
            labels.append(EMOTIONS.index(label))
    return texts, np.asarray(labels, dtype=np.int64), skipped


def tfidf_lr(train: Sequence[str], train_y: Labels, test: Sequence[str], seed: int) -> Labels:
    """Predictions of a character 1–3-gram TF-IDF + logistic regression fitted on the train texts."""
    vectorizer = TfidfVectorizer(
        analyzer="char", ngram_range=NGRAM_RANGE, min_df=MIN_DF, max_features=MAX_FEATURES, sublinear_tf=True
    )
    classifier = LogisticRegression(C=LR_C, max_iter=2000, class_weight="balanced", random_state=seed)
    classifier.fit(vectorizer.fit_transform(train), train_y)
    predicted: Labels = classifier.predict(vectorizer.transform(test)).astype(np.int64)
    return predicted


def scores(truth: Labels, predicted: Labels, names: Sequence[str]) -> dict[str, Any]:
    per_class = f1_score(truth, predicted, labels=list(range(len(names))), average=None, zero_division=0)
    return {
        "macro_f1": round(float(np.mean(per_class)), 4),
        "per_class_f1": {name: round(float(v), 4) for name, v in zip(names, per_class, strict=True)},
        "n": len(truth),
        "predicted_share": {name: round(float(np.mean(predicted == i)), 3) for i, name in enumerate(names)},
    }


def usual_cv(
    virus: list[str], virus_y: Labels, usual: list[str], usual_y: Labels, args: argparse.Namespace
) -> dict[str, Any]:
    """K-fold over the usual eval posts, each fold trained on the virus files plus the other usual folds:
    what a little in-domain data adds (the hidden usual test is everyday posts, like usual eval)."""
    from sklearn.model_selection import StratifiedKFold

    predicted = np.zeros(len(usual_y), dtype=np.int64)
    folds = StratifiedKFold(n_splits=args.ewect_usual_folds, shuffle=True, random_state=args.seed)
    for train_index, test_index in folds.split(usual, usual_y):
        texts = virus + [usual[i] for i in train_index]
        labels = np.concatenate([virus_y, usual_y[train_index]])
        predicted[test_index] = tfidf_lr(texts, labels, [usual[i] for i in test_index], args.seed)
    return {"folds": args.ewect_usual_folds, **scores(usual_y, predicted, EMOTIONS)}


def band(p_negative: npt.NDArray[np.float64], negative_above: float, positive_below: float) -> Labels:
    """SentimentConfig's reading: >= negative_above negative, <= positive_below positive, else neutral."""
    out = np.ones(len(p_negative), dtype=np.int64)
    out[p_negative <= positive_below] = 2
    out[p_negative >= negative_above] = 0  # as nlp.sentiment: negative is checked first
    return out


def tune_band(p_negative: npt.NDArray[np.float64], truth: Labels) -> tuple[float, float, float]:
    """The (negative_above, positive_below) on the grid with the best macro-F1, and that F1."""
    best = (0.6, 0.4, -1.0)
    for above in BAND_GRID:
        for below in (b for b in BAND_GRID if b < above):
            value = float(f1_score(truth, band(p_negative, above, below), labels=[0, 1, 2], average="macro"))
            if value > best[2]:
                best = (float(above), float(below), value)
    return best


def sample(lines: list[JddcLine], n: int, seed: int) -> list[JddcLine]:
    return lines if n <= 0 or n >= len(lines) else random.Random(seed).sample(lines, n)


def model_rows(args: argparse.Namespace, train: list[JddcLine], dev: list[JddcLine]) -> dict[str, Any]:
    from nlp.sentiment.transformer import TransformerScorer  # loads onnxruntime: only when asked

    os.environ["HF_HUB_OFFLINE"] = "1"
    scorer = TransformerScorer.load(args.model, threads=args.threads)
    result: dict[str, Any] = {"model": scorer.version, "views": {}}
    views = ("last_turn", "joined") if args.model_joined else ("last_turn",)
    for view in views:
        tune = sample(train, args.model_n, args.seed)
        evaluate = sample(dev, args.model_n, args.seed)
        started = time.perf_counter()

        def probabilities(part: list[JddcLine], view: str = view) -> npt.NDArray[np.float64]:
            texts = view_texts(part, view)
            unique = sorted(set(texts))
            p = dict(zip(unique, scorer.negative_probabilities(unique).tolist(), strict=True))
            return np.asarray([p[t] for t in texts], dtype=np.float64)

        p_tune, p_dev = probabilities(tune), probabilities(evaluate)
        truth_tune = np.asarray([x.label for x in tune], dtype=np.int64)
        truth_dev = np.asarray([x.label for x in evaluate], dtype=np.int64)
        above, below, tuned_train_f1 = tune_band(p_tune, truth_tune)
        result["views"][view] = {
            "tune_texts": len(tune),
            "dev_texts": len(evaluate),
            "seconds": round(time.perf_counter() - started, 1),
            "config_band": {
                "negative_above": BINARY_BAND[0],
                "positive_below": BINARY_BAND[1],
                **scores(truth_dev, band(p_dev, *BINARY_BAND), POLARITY),
            },
            "tuned_band": {
                "negative_above": above,
                "positive_below": below,
                "train_macro_f1": round(tuned_train_f1, 4),
                **scores(truth_dev, band(p_dev, above, below), POLARITY),
            },
        }
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    lines, report = read_jddc(JDDC_FILE)  # texts normalised as read
    train, dev = split_by_dialogue(lines, args.seed)
    out: dict[str, Any] = {
        "seed": args.seed,
        "jddc": {
            "read": asdict(report),
            "train_lines": len(train),
            "dev_lines": len(dev),
            "train_dialogues": len({x.dialogue for x in train}),
            "dev_dialogues": len({x.dialogue for x in dev}),
            "dev_label_share": {
                name: round(sum(x.label == i for x in dev) / len(dev), 3) for i, name in enumerate(POLARITY)
            },
            "tfidf_lr": {},
        },
    }
    train_y = np.asarray([x.label for x in train], dtype=np.int64)
    dev_y = np.asarray([x.label for x in dev], dtype=np.int64)
    for view in ("last_turn", "joined"):
        predicted = tfidf_lr(view_texts(train, view), train_y, view_texts(dev, view), args.seed)
        out["jddc"]["tfidf_lr"][view] = scores(dev_y, predicted, POLARITY)

    files = EWECT_VIRUS[args.ewect_virus]
    train_texts: list[str] = []
    train_parts: list[Labels] = []
    skipped = 0
    for name in files:
        texts, labels, bad = read_ewect(name)
        train_texts += texts
        train_parts.append(labels)
        skipped += bad
    train_y_ewect = np.concatenate(train_parts)
    eval_texts, eval_y, eval_bad = read_ewect(EWECT_EVAL)
    predicted = tfidf_lr(train_texts, train_y_ewect, eval_texts, args.seed)
    out["ewect"] = {
        "train_files": list(files),
        "train_texts": len(train_texts),
        "eval_file": EWECT_EVAL,
        "skipped": skipped + eval_bad,
        "tfidf_lr": scores(eval_y, predicted, EMOTIONS),
    }
    if args.ewect_usual_folds > 1:
        out["ewect"]["usual_cv"] = usual_cv(train_texts, train_y_ewect, eval_texts, eval_y, args)
    if not args.no_model:
        out["jddc"]["default_model"] = model_rows(args, train, dev)
    return out


def table(out: dict[str, Any]) -> str:
    jddc, ewect = out["jddc"], out["ewect"]
    read = jddc["read"]
    rows = [
        f"JDDC: {read['lines']} lines, {read['unparsable']} unparsable, {read['overall_lines']} OVERALL lines left "
        f"out, {read['dialogues']} dialogues; train {jddc['train_lines']} lines / {jddc['train_dialogues']} "
        f"dialogues, dev {jddc['dev_lines']} / {jddc['dev_dialogues']} (seed {out['seed']}); "
        f"dev labels {jddc['dev_label_share']}",
        f"EWECT: train {ewect['train_texts']} texts ({', '.join(ewect['train_files'])}), eval {ewect['eval_file']}",
        "",
        f"{'set / method':52} {'macro-F1':>8}  per-class F1",
    ]

    def row(name: str, s: dict[str, Any]) -> str:
        per = " ".join(f"{k} {v:.3f}" for k, v in s["per_class_f1"].items())
        return f"{name:52} {s['macro_f1']:8.3f}  {per}  (n={s['n']})"

    for view, s in jddc["tfidf_lr"].items():
        rows.append(row(f"JDDC dev, {view}, char 1-3 TF-IDF + LR", s))
    for view, v in jddc.get("default_model", {}).get("views", {}).items():
        c, t = v["config_band"], v["tuned_band"]
        rows.append(row(f"JDDC dev, {view}, model, band {c['negative_above']}/{c['positive_below']}", c))
        rows.append(row(f"JDDC dev, {view}, model, tuned {t['negative_above']}/{t['positive_below']}", t))
    rows.append(row("EWECT usual eval, char 1-3 TF-IDF + LR", ewect["tfidf_lr"]))
    if "usual_cv" in ewect:
        cv = ewect["usual_cv"]
        rows.append(row(f"EWECT usual eval, {cv['folds']}-fold, virus + other folds", cv))
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--model-n", type=int, default=0, help="texts per JDDC part for the model (0 = all)")
    parser.add_argument(
        "--model-joined",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also score the joined-turns view with the model (about 2 of the run's 4 minutes)",
    )
    parser.add_argument("--no-model", action="store_true", help="only the TF-IDF baselines")
    parser.add_argument(
        "--ewect-virus", choices=sorted(EWECT_VIRUS), default="train+eval", help="virus files to train on"
    )
    parser.add_argument(
        "--ewect-usual-folds", type=int, default=0, help="also K-fold over usual eval with the virus files (slow)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    out = run(args)
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, ensure_ascii=False, indent=2) if args.json else table(out) + f"\n\n{out['seconds']} s")


if __name__ == "__main__":
    main()
