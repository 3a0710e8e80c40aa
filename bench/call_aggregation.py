"""Which call aggregation reads JDDC satisfaction best (issue 13): the default of
``SentimentConfig.call_aggregation`` is the winner here.

Each JDDC line is a dialogue so far with the customer's satisfaction at its last turn
(dissatisfied / neutral / satisfied). Every customer turn of the dev dialogues (split by dialogue,
seed 13, as ``training.datasets``; no dialogue the model trained on) is scored once; each line's
call reading is then built from its customer turns by ``nlp.pipeline.aggregate_call`` with each
aggregation, and its label compared with the line's satisfaction: three-way macro-F1 and per-class
F1, plus the ROC-AUC of negative_probability for dissatisfied vs satisfied lines.

Run from the repository root: ``python bench/call_aggregation.py [--model models/default] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: nlp/ is imported from the checkout

from nlp.config import CallAggregation  # noqa: E402
from nlp.pipeline import aggregate_call  # noqa: E402
from nlp.schema import LABELS  # noqa: E402
from nlp.sentiment.transformer import TransformerScorer  # noqa: E402
from training.datasets import JDDC_FILE, read_jddc, split_by_dialogue  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SEED, DEV_SHARE = 13, 0.2


def run(model: Path) -> dict[str, Any]:
    lines, _report = read_jddc(DATA / JDDC_FILE)
    _train, dev = split_by_dialogue(lines, SEED, DEV_SHARE)
    scorer = TransformerScorer.load(model)
    turns = sorted({t for line in dev for t in line.user_turns})
    started = time.perf_counter()
    sentiments = dict(zip(turns, scorer.score(turns), strict=True))
    seconds = time.perf_counter() - started
    truth = np.asarray([line.label for line in dev])
    out: dict[str, Any] = {
        "model": scorer.version,
        "dev_lines": len(dev),
        "dev_dialogues": len({line.dialogue for line in dev}),
        "customer_turns_scored": len(turns),
        "scoring_seconds": round(seconds, 1),
        "aggregations": {},
    }
    for method in typing.get_args(CallAggregation):
        config = replace(scorer.config, call_aggregation=method)
        calls = [aggregate_call([sentiments[t] for t in line.user_turns], scorer.version, config) for line in dev]
        predicted = np.asarray([LABELS.index(c.label) for c in calls])
        p_negative = np.asarray([c.negative_probability for c in calls])
        opinion = truth != 1
        out["aggregations"][method] = {
            "macro_f1": round(float(f1_score(truth, predicted, average="macro", labels=[0, 1, 2])), 4),
            "per_class_f1": [round(float(v), 4) for v in f1_score(truth, predicted, average=None, labels=[0, 1, 2])],
            "auc_dissatisfied_vs_satisfied": round(float(roc_auc_score(truth[opinion] == 0, p_negative[opinion])), 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = run(args.model)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['model']}: {out['dev_lines']} dev lines of {out['dev_dialogues']} dialogues")
    print("| aggregation | macro-F1 | F1 neg · neu · pos | AUC dissatisfied vs satisfied |")
    print("|---|---|---|---|")
    for method, s in out["aggregations"].items():
        per = " · ".join(f"{v:.3f}" for v in s["per_class_f1"])
        print(f"| {method} | {s['macro_f1']:.4f} | {per} | {s['auc_dissatisfied_vs_satisfied']:.4f} |")


if __name__ == "__main__":
    main()
