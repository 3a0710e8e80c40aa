"""`kesheng train --data mine.csv` on a clean install: an empty $KESHENG_HOME, a folder without runs/,
no recipe, no registry config, no development pool. The packaged recipe, the shipped gate config and
golden sets (package data) and a base encoder built into the data home are all it takes to end in a
registered version that can be promoted and served. The encoder build is swapped for the tiny random
encoder of tests/training/tiny_encoder.py so the test takes seconds, not minutes. The committed default
model is three-way, which kesheng train fine-tunes itself (tests/training/test_retrain_three_way.py);
--from-base asks for the binary model from the base encoder that these tests follow."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kesheng.cli import app
from models.registry import Registry
from nlp.resources import data_path
from tests.training.test_retrain import BUILTIN, GOLDEN, NEGATIVE, POSITIVE
from tests.training.tiny_encoder import pruned_tokenizer_json, write_tiny_encoder

runner = CliRunner()
# The packaged recipe, shrunk to the tiny encoder (2 layers, a 16-token window) and one thread.
TINY = [
    *("--set", "model.layers=2"),
    *("--set", "model.max_length=16"),
    *("--set", "model.head_tokens=5"),
    *("--set", "train.batch_size=8"),
    *("--set", "train.threads=1"),
    *("--set", "export.window_stride=4"),
    *("--set", "export.max_int8_loss_points=100"),
]


def write_csv(path: Path, rows: Sequence[tuple[str, object]]) -> Path:
    """A labelled CSV as a user would export it: text,label with quoted fields where needed."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An empty data home, a working folder without runs/, the shipped registry config, and an encoder
    build that writes the tiny random encoder (it records what it was asked to build)."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("KESHENG_HOME", str(home))
    monkeypatch.delenv("KESHENG_REGISTRY_CONFIG", raising=False)
    builds: list[tuple[Path, int]] = []

    def tiny_build(out: Path, _config: object, texts: Sequence[str], **_kw: object) -> dict[str, Any]:
        builds.append((out, len(texts)))
        write_tiny_encoder(out, pruned_tokenizer_json([*texts, *POSITIVE, *NEGATIVE]))
        return {}

    monkeypatch.setattr("training.build_encoder.build_encoder", tiny_build)
    return {"home": home, "work": work, "builds": builds}


def test_a_bad_file_is_refused_before_anything_is_built(clean: dict[str, Any], tmp_path: Path) -> None:
    golden_text = GOLDEN[0][1]
    rows = [(t, 1) for t in POSITIVE] + [(t, 0) for t in NEGATIVE] + [("还行吧，一般般", "5"), (golden_text, 1)]
    data = write_csv(tmp_path / "mine.csv", rows)
    # A text of the shipped golden sets, to check the overlap against them.
    shipped = (data_path("samples", "golden", "waimai_heldout.tsv").read_text(encoding="utf-8")).splitlines()[1]
    with data.open("a", encoding="utf-8") as handle:
        handle.write(shipped.split("\t", 1)[1] + ",0\n")
    result = runner.invoke(app, ["train", "--data", str(data), "--from-base", *TINY])
    assert result.exit_code == 2, result.output
    assert f"{data}:26 [label]: label must be 0 (negative) or 1 (positive), or three-way" in result.output
    assert f"{data}:28 [text]: text is in evaluation set 'golden:waimai_heldout'" in result.output
    assert "nothing was trained" in result.output
    assert clean["builds"] == [] and not clean["home"].exists()


def test_train_with_only_a_labelled_csv_registers_a_version(clean: dict[str, Any], tmp_path: Path) -> None:
    home, work = clean["home"], clean["work"]
    data = write_csv(tmp_path / "mine.csv", [(t, 1) for t in POSITIVE] + [(t, 0) for t in NEGATIVE])
    result = runner.invoke(app, ["train", "--data", str(data), "--from-base", *TINY])
    assert result.exit_code == 0, result.output
    output = result.output
    assert "validated: 24 training texts (12 positive, 12 negative)" in output
    assert "dev set: 4 of your texts held out (2 positive), stratified by label; 20 to train on" in output
    assert "evaluation sets: the golden sets chnsenticorp_test, waimai_heldout, online_shopping_heldout" in output
    # The base encoder is built into the data home, once, from the bundled golden samples' texts.
    encoder = home / "base-encoder"
    assert clean["builds"] == [(encoder.with_name(".base-encoder.tmp"), 900)]
    assert (encoder / "model.safetensors").is_file()
    assert f"fine-tuning from base encoder {encoder}" in output

    registry = Registry.from_env()
    new = registry.list_versions()[-1]
    assert new.path.parent == home / "models" and not new.active and new.parent_version == BUILTIN
    manifest = new.manifest
    assert manifest["training_data"]["texts"] == 24 and manifest["training_data"]["held_out_dev"] == 4
    recorded = manifest["config"]["data"]
    assert recorded["base_encoder"] == str(encoder)
    assert set(recorded["evals"]) == {"chnsenticorp_test", "waimai_heldout", "online_shopping_heldout", "dev"}
    assert manifest["tuning_set"] == "dev"
    assert manifest["metrics"]["waimai_heldout"]["n"] == 300
    # Nothing was read from, or written into, runs/ of the current folder but the run folder itself.
    assert [p.name for p in (work / "runs").iterdir()] == ["retrain"]

    # Registered, not promoted: it can be promoted (the gate refuses a tiny random model) and served.
    assert runner.invoke(app, ["models", "promote", new.version]).exit_code == 1
    promoted = runner.invoke(app, ["models", "promote", new.version, "--force"])
    assert promoted.exit_code == 0, promoted.output
    scored = runner.invoke(app, ["score", "-"], input="快递太慢了，客服也不理人\n")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output.strip().splitlines()[-1])["model_version"] == new.version
