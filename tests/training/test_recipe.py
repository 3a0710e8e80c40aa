"""training.recipe: what `kesheng train --data` fills in when the recipe leaves it empty or the run
does not have it (a held-out dev share, the golden sets, the data home's base encoder), and the
stratified dev split itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from models.gate import GateConfig
from nlp.errors import ConfigError
from tests.training.test_retrain import GOLDEN, HELD_OUT, NEGATIVE, POSITIVE, RECIPE, write_tsv
from training.config import config_from_dict
from training.pool import Example
from training.recipe import PACKAGED_RECIPE, hold_out_dev, read_recipe, resolve_recipe

# Reviews and service turns of several domains; 30 positive, 10 negative (an unbalanced user file).
POSITIVE_TEXTS = [*POSITIVE, *(t for label, t in GOLDEN if label == 1), *(t for label, t in HELD_OUT if label == 1)]
NEGATIVE_TEXTS = NEGATIVE[:10]
# The shipped default model, whose manifest records the recipe it was made with.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "models" / "default" / "manifest.json"


def examples(positive: int, negative: int) -> list[Example]:
    """Positive and negative texts interleaved as a user's file would have them, with their rows."""
    texts = [(1, t) for t in POSITIVE_TEXTS[:positive]] + [(0, t) for t in NEGATIVE_TEXTS[:negative]]
    texts.sort(key=lambda row: row[1])  # a fixed order that mixes the labels
    return [Example(label, text, f"mine.csv:{row}") for row, (label, text) in enumerate(texts, start=2)]


@pytest.mark.parametrize(
    ("positive", "negative", "fraction", "held"),
    [
        (22, 10, 0.15, {1: 3, 0: 2}),  # round(3.3) and round(1.5): banker's rounding, 2
        (22, 10, 0.5, {1: 11, 0: 5}),
        (20, 3, 0.1, {1: 2, 0: 1}),  # round(0.3) = 0, but a label with 2+ texts keeps one in dev
        (5, 1, 0.15, {1: 1}),  # a label with one text stays in training: it cannot be on both sides
    ],
)
def test_the_dev_split_is_stratified_by_label(
    positive: int, negative: int, fraction: float, held: dict[int, int]
) -> None:
    rows = examples(positive, negative)
    dev, train = hold_out_dev(rows, fraction, seed=7)
    assert Counter(e.label for e in dev) == Counter(held)
    # Every text on exactly one side, each side in the file's order.
    assert sorted(e.source for e in dev + train) == sorted(e.source for e in rows)
    assert not {e.text for e in dev} & {e.text for e in train}
    assert [e for e in rows if e in dev] == dev and [e for e in rows if e in train] == train
    # The same seed draws the same texts; another seed others.
    assert hold_out_dev(rows, fraction, seed=7) == (dev, train)


def test_another_seed_holds_out_other_texts() -> None:
    rows = examples(22, 10)
    assert hold_out_dev(rows, 0.5, seed=7)[0] != hold_out_dev(rows, 0.5, seed=8)[0]


def golden_sets(tmp_path: Path) -> dict[str, Path]:
    return {"clear": write_tsv(tmp_path / "golden" / "golden.tsv", GOLDEN)}


def test_the_packaged_recipe_is_filled_in_for_your_own_data(tmp_path: Path) -> None:
    golden, out, home = golden_sets(tmp_path), tmp_path / "run", tmp_path / "home"
    mine = write_tsv(tmp_path / "mine.tsv", [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE])
    plan = resolve_recipe(
        PACKAGED_RECIPE, data=[mine], overrides=[], root=tmp_path / "nowhere", out=out, home=home, golden=golden
    )
    data = plan.config.data
    assert plan.train_files == (mine,)
    assert data.train == str((out / "data" / "train.tsv").resolve())
    assert plan.held_out_dev == (out / "data" / "dev.tsv").resolve() and data.dev == str(plan.held_out_dev)
    # The golden sets are the evaluation sets, with the held-out share beside them for tuning.
    assert data.evals == {"clear": str(golden["clear"]), "dev": data.dev}
    assert data.base_encoder == str(home / "base-encoder")
    # The training texts must stay out of the golden sets; the dev share comes from them, so it is no check.
    assert plan.evaluation_sets == {"golden:clear": golden["clear"]}
    assert "evaluation sets: the golden sets clear" in plan.notes


def test_a_pool_recipe_with_your_data_keeps_what_is_there(tmp_path: Path) -> None:
    root, golden = tmp_path, golden_sets(tmp_path)
    write_tsv(root / "runs" / "pool" / "test.tsv", HELD_OUT[1::2])  # the recipe's dev.tsv is not here
    (root / "recipe.toml").write_text(RECIPE, encoding="utf-8")
    mine = write_tsv(tmp_path / "mine.tsv", [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE])
    plan = resolve_recipe(
        root / "recipe.toml", data=[mine], overrides=[], root=root, out=tmp_path / "run", home=root, golden=golden
    )
    assert plan.config.data.evals == {"chnsenticorp_test": "runs/pool/test.tsv", "dev": plan.config.data.dev}
    assert plan.config.data.base_encoder == "runs/base-encoder"  # named by the recipe: kept
    assert set(plan.evaluation_sets) == {"chnsenticorp_test", "golden:clear"}
    assert any("dev set" in note and "runs/pool/dev.tsv" in note for note in plan.notes)
    assert any("'chnsenticorp_dev'" in note and "skipped" in note for note in plan.notes)


def test_without_your_data_every_file_of_the_recipe_must_be_there(tmp_path: Path) -> None:
    (tmp_path / "recipe.toml").write_text(RECIPE.replace("runs/pool/none.tsv", "train.tsv"), encoding="utf-8")
    write_tsv(tmp_path / "train.tsv", [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE])
    golden, out = golden_sets(tmp_path), tmp_path / "run"
    with pytest.raises(ConfigError, match=r"pool/dev\.tsv: evaluation set 'dev' of the recipe not found"):
        resolve_recipe(
            tmp_path / "recipe.toml", data=[], overrides=[], root=tmp_path, out=out, home=tmp_path, golden=golden
        )
    with pytest.raises(ConfigError, match=r"names no training file \(data\.train\); give one with --data FILE"):
        resolve_recipe(PACKAGED_RECIPE, data=[], overrides=[], root=tmp_path, out=out, home=tmp_path, golden=golden)


def test_the_shipped_golden_sets_are_the_default_evaluation_sets(tmp_path: Path) -> None:
    golden = dict(GateConfig.load().golden)
    mine = write_tsv(tmp_path / "mine.tsv", [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE])
    plan = resolve_recipe(
        PACKAGED_RECIPE, data=[mine], overrides=[], root=tmp_path, out=tmp_path / "run", home=tmp_path, golden=golden
    )
    assert set(plan.config.data.evals) == {"chnsenticorp_test", "waimai_heldout", "online_shopping_heldout", "dev"}
    assert all(Path(path).is_file() for name, path in plan.config.data.evals.items() if name != "dev")


def test_the_three_way_default_model_says_how_it_is_retrained(tmp_path: Path) -> None:
    # e5s-zh-3 was trained by training.multitask, not by a kesheng train recipe: using its manifest
    # as one says so instead of failing on unknown keys.
    with pytest.raises(ConfigError, match=r"three-way \+ emotion model, trained by `python -m training.multitask`"):
        read_recipe(DEFAULT_MANIFEST)
    # Its binary parent's recipe is recorded with it and still reads as a training recipe.
    manifest = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))
    parent = config_from_dict(manifest["config"]["parent"], str(DEFAULT_MANIFEST))
    assert (parent.model.layers, parent.export.version) == (6, manifest["parent_version"])
    assert manifest["config"]["multitask"]["start"] == "models/default"
