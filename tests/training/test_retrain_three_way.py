"""The three-way path of `kesheng train` end to end through the CLI, on a tiny three-way + emotion
model in the shipped format (fused int8 ONNX, n-gram model and heads) registered and made active:
three-way and emotion labels → validated → fine-tuned from the active version's ONNX → exported,
registered with its parent, not promoted, the gate comparing it → `kesheng score` with the new version
gives probabilities and emotions → promoted, the next retrain starts from its weights/ and resumes;
a binary file on a three-way start trains the negative-vs-positive split and keeps the n-gram heads;
bad labels are refused with file, row and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kesheng.cli import app
from models.registry import Registry
from nlp.files import sha256_file
from tests.training.test_retrain import GOLDEN, NEGATIVE, POSITIVE, write_gate, write_tsv
from tests.training.tiny_encoder import pruned_tokenizer_json, write_tiny_three_way_model
from training.recipe import PACKAGED_RECIPE

runner = CliRunner()
START = "tiny-3way"
# (label, emotion, text) as `kesheng labels export` writes them: a cell left empty where the analyst gave none.
THREE_WAY = [
    ("negative", "angry", "客服一直推脱，问题根本没解决"),
    ("negative", "sad", "电话打了十几次都没人接，太失望了"),
    ("negative", "fear", "退款申请三天了还没到账，我很着急"),
    ("negative", "angry", "说好的赠品没有，差评"),
    ("negative", "", "送来的饭都凉了，而且少了一份菜"),
    ("negative", "sad", "用了两天就坏了，质量太差"),
    ("neutral", "neutral", "是不是不能改价呀"),
    ("neutral", "neutral", "如果想给客户优惠怎么办"),
    ("neutral", "neutral", "好的"),
    ("neutral", "", "请问几点关门"),
    ("neutral", "neutral", "我想查一下订单"),
    ("neutral", "neutral", "发票可以开公司抬头吗"),
    ("positive", "happy", "客服小姐姐很耐心，问题解决了"),
    ("positive", "happy", "送餐很快，味道不错，下次还点"),
    ("positive", "happy", "师傅上门安装很专业，点个赞"),
    ("positive", "", "性价比很高，屏幕清晰，运行流畅"),
    ("positive", "surprise", "居然第二天就到了，没想到这么快"),
    ("", "surprise", "怎么突然涨价了"),
    ("", "angry", "气死我了，到现在都没人处理"),
    ("", "fear", "孩子用了会不会过敏啊，有点担心"),
]
POLARITY = {"negative": 0, "neutral": 1, "positive": 2}
EMOTION = ("angry", "sad", "fear", "surprise", "happy", "neutral")
# The packaged three-way recipe, shrunk to the tiny model (a 16-token window), one thread and 4 steps.
TINY = [
    *("--set", "model.head_tokens=5"),
    *("--set", "train.threads=1"),
    *("--set", "train.batch_size=8"),
    *("--set", "train.max_steps=4"),
    *("--set", "train.eval_every=2"),
    *("--set", "train.checkpoint_every=2"),
    *("--set", "train.log_every=1"),
    *("--set", "export.max_int8_loss_points=100"),
]
SCORED = ["快递太慢了，客服也不理人", "请问明天能送到吗", "非常满意，谢谢"]


def write_three_way(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("label\temotion\ttext\n" + "".join(f"{p}\t{e}\t{t}\n" for p, e, t in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny three-way model (the real e5 tokenizer pruned to these texts) and a registry config
    with one golden set of clear reviews."""
    root = tmp_path_factory.mktemp("retrain-three-way")
    texts = [t for *_, t in THREE_WAY] + POSITIVE + NEGATIVE + [t for _, t in GOLDEN] + SCORED
    labelled = [(t, POLARITY.get(p, 1), EMOTION.index(e or "neutral")) for p, e, t in THREE_WAY]
    write_tiny_three_way_model(root / "tiny", pruned_tokenizer_json(texts), labelled, START)
    write_gate(root)
    return root


@pytest.fixture
def registry(tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A data home whose active version is the tiny three-way model."""
    monkeypatch.setenv("KESHENG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KESHENG_REGISTRY_CONFIG", str(workspace / "registry.toml"))
    registry = Registry.from_env()
    registry.register(workspace / "tiny", version=START)
    registry.promote(START, force=True)
    return registry


def train(data: Path, out: Path, *extra: str) -> Any:
    return runner.invoke(app, ["train", "--data", str(data), "--out", str(out), *TINY, *extra])


def scored(*args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["score", *args, "-"], input="\n".join(SCORED) + "\n")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.strip().splitlines()]


def test_three_way_and_emotion_labels_train_a_registered_three_way_version(registry: Registry, tmp_path: Path) -> None:
    data = write_three_way(tmp_path / "标注.tsv", THREE_WAY)
    result = train(data, tmp_path / "run")
    assert result.exit_code == 0, result.output
    output = result.output
    assert (
        "validated: 20 training texts (6 negative, 6 neutral, 5 positive; 17 with an emotion "
        "(3 angry, 2 sad, 2 fear, 2 surprise, 3 happy, 5 neutral))" in output
    )
    assert f"fine-tuning from version {START} (its model.onnx): three-way polarity and emotions" in output
    assert "eval step 0: dev three-way macro-F1" in output and "step 4/4" in output
    new = registry.list_versions()[-1]
    assert f"registered {new.version} (parent {START})" in output
    # Registered, not promoted; the gate compares it with the active version on the golden set.
    assert not new.active and new.parent_version == START and registry.active().version == START
    assert (
        f"golden set               metric         {START}" in output and "clear                    accuracy" in output
    )
    assert f"promote with: kesheng models promote {new.version}" in output

    manifest = new.manifest
    assert manifest["labels"] == ["negative", "neutral", "positive"] and len(manifest["emotions"]) == 6
    assert manifest["config"]["kind"] == "three-way" and manifest["config"]["train"]["max_steps"] == 4
    assert manifest["training_data"]["files"][0]["sha256"] == sha256_file(data)
    assert manifest["training_data"]["neutral"] == 6 and manifest["training_data"]["emotions"] == 17
    # Both tasks are labelled, so the start's n-gram heads (fitted on other data) are left out;
    # the n-gram model of the negative-vs-positive split is kept with its weight.
    assert "ngram_heads" not in manifest and manifest["ngram_heads_dropped"] == ["emotion", "polarity"]
    assert manifest["ngram_weight"] == 0.3 and (new.path / "ngram.safetensors").is_file()
    assert not (new.path / "ngram_heads.safetensors").exists()
    # Every set of the export: the golden set (binary), the dev share's three-way and emotion rows.
    kinds = {name: m["kind"] for name, m in manifest["metrics"].items() if "kind" in m}
    assert kinds == {"clear": "binary", "dev": "three_way", "dev_emotion": "emotion"}
    assert new.checkpoint is not None and (new.checkpoint / "heads.json").is_file()
    assert f"fine-tuned by `kesheng train` from {START}" in (new.path / "MODEL_CARD.md").read_text(encoding="utf-8")
    report = json.loads((new.path / "report.json").read_text(encoding="utf-8"))
    assert report["model_version"] == new.version and "clear" in report["sets"]

    lines = scored("--model", new.version)
    assert [line["model_version"] for line in lines] == [new.version] * 3
    for line in lines:
        assert set(line["probabilities"]) == {"negative", "neutral", "positive"}
        assert line["label"] in ("negative", "neutral", "positive")
        assert line["emotion"] in EMOTION and set(line["emotion_probabilities"]) == set(EMOTION)
        assert line["emotion_name"] in ("愤怒", "失望", "焦虑", "惊讶", "满意", "中性")
    assert scored()[0]["model_version"] == START  # the active version still answers

    # Promoted, the next retrain starts from the new version's exact weights, not its int8 graph.
    assert runner.invoke(app, ["models", "promote", new.version, "--force"]).exit_code == 0
    again = train(data, tmp_path / "run2", "--version", "tiny-3way-2")
    assert again.exit_code == 0, again.output
    assert f"fine-tuning from version {new.version} (its weights/)" in again.output
    assert registry.get("tiny-3way-2").parent_version == new.version
    # A finished run resumes from its last checkpoint (step 4) and registers the same lineage,
    # whatever is active now.
    assert runner.invoke(app, ["models", "rollback"]).exit_code == 0
    resumed = train(data, tmp_path / "run2", "--resume", "--version", "tiny-3way-3")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed at step 4" in resumed.output and f"fine-tuning from version {new.version}" in resumed.output
    assert registry.get("tiny-3way-3").parent_version == new.version


def test_binary_labels_on_a_three_way_start_keep_the_three_way_model(registry: Registry, tmp_path: Path) -> None:
    data = write_tsv(tmp_path / "mine.tsv", [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE])
    result = train(data, tmp_path / "run", "--version", "binary-on-3way")
    assert result.exit_code == 0, result.output
    assert "validated: 24 training texts (12 positive, 12 negative)" in result.output
    assert f"fine-tuning from version {START}" in result.output
    assert "negative-vs-positive accuracy" in result.output  # the dev share is two-way
    manifest = registry.get("binary-on-3way").manifest
    assert manifest["labels"] == ["negative", "neutral", "positive"] and manifest["emotions"]
    # 0/1 labels teach neither three-way polarity nor emotions: the start's n-gram heads stay.
    assert manifest["ngram_heads"] == {"emotion": 0.5, "polarity": 0.2} and manifest["ngram_heads_dropped"] == []
    assert {name for name in manifest["metrics"] if name.startswith("dev")} == {"dev_binary"}
    assert all("emotion" in line for line in scored("--model", "binary-on-3way"))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("好评", "happy", "物流很快，包装完好")], "label must be 0 (negative) or 1 (positive), or three-way"),
        ([("positive", "开心", "物流很快，包装完好")], "emotion must be one of angry, sad, fear"),
        ([("", "", "物流很快，包装完好")], "neither a label nor an emotion"),
        ([("1", "happy", "物流很快，包装完好")], "mix words and numbers"),
        ([("angry", "", "物流很快，包装完好")], "'angry' is an emotion: put emotions in a column named emotion"),
    ],
)
def test_bad_labels_are_refused_with_file_row_and_field(
    registry: Registry, tmp_path: Path, rows: list[tuple[str, str, str]], expected: str
) -> None:
    data = write_three_way(tmp_path / "标注.tsv", [*THREE_WAY, *rows])
    result = train(data, tmp_path / "run")
    assert result.exit_code == 2, result.output
    field = "emotion" if "emotion must" in expected else "label"
    assert f"{data}:22 [{field}]: " in result.output and expected in result.output
    assert "nothing was trained" in result.output
    assert not (tmp_path / "run" / "last").exists() and len(registry.list_versions()) == 2


def test_from_base_with_three_way_labels_is_refused(registry: Registry, tmp_path: Path) -> None:
    data = write_three_way(tmp_path / "标注.tsv", THREE_WAY)
    result = train(data, tmp_path / "run", "--from-base")
    assert result.exit_code == 2
    assert "--from-base trains a binary model from the base encoder, but your labels include neutral" in result.output
    # A binary recipe of one's own cannot train the three-way run these labels ask for.
    recipe = tmp_path / "binary.toml"
    recipe.write_text(PACKAGED_RECIPE.read_text(encoding="utf-8"), encoding="utf-8")
    binary_recipe = train(data, tmp_path / "run", "--config", str(recipe))
    assert (
        binary_recipe.exit_code == 2 and f"{recipe}: a binary recipe, but this run is three-way" in binary_recipe.output
    )
