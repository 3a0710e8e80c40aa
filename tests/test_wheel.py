"""The built wheel carries everything an install needs to analyse with no source tree beside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What `kesheng analyze`, `serve` and `train` read at run time (SPEC: the model and data are package data).
REQUIRED = [
    "models/default/model.onnx",
    "models/default/tokenizer.json",
    "models/default/manifest.json",
    "models/default/ngram.safetensors",
    "models/default/ngram.json",
    "models/default/ngram_heads.safetensors",
    "data/__init__.py",
    "data/themes.toml",
    "data/alerts.toml",
    "data/stopwords.txt",
    "data/dict/domain.txt",
    "data/lexicon/polarity.tsv",
    "data/lexicon/emotion.tsv",
    "data/lexicon/negation.txt",
    "data/lexicon/degree.tsv",
    "data/aspects/generic_opinions.txt",
    "data/aspects/not_terms.txt",
    "data/aspects/words.txt",
    "data/samples/golden/chnsenticorp_test.tsv",
    "data/samples/golden/waimai_heldout.tsv",
    "data/samples/golden/online_shopping_heldout.tsv",
    "data/examples/restaurant_themes.toml",
    "data/examples/kesheng.toml",
    "training/configs/sentiment.toml",
    "training/configs/registry.toml",
    "api/migrations/script.py.mako",
]


@pytest.mark.slow
def test_the_wheel_holds_the_model_the_dictionaries_and_the_taxonomy(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("kesheng-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in REQUIRED if name not in names]
    assert not missing, f"not in {wheel.name}: {missing}"
    lexicon = [n for n in names if n.startswith("data/lexicon/")]
    assert len(lexicon) >= 8
    # Only the project's own files: no tests, runs or build outputs.
    assert not [n for n in names if n.startswith(("tests/", "runs/", "out/", "build/"))]
