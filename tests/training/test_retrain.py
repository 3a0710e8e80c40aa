"""The binary retraining workflow end to end through the CLI, on a tiny randomly initialised encoder:
bad data refused with file and row → train → new version registered (not active) → the gate refuses
it against the committed default model, with the numbers → forced promotion → `kesheng score`
answers with the new version → a second retrain starts from the new version's weights → rollback →
a resumed run registers the lineage it started with.

The committed default model is three-way, so a run that starts while it is active takes the
three-way path (tests/training/test_retrain_three_way.py) unless --from-base asks for a binary model
from the base encoder, as these runs do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kesheng.cli import app
from models import DEFAULT_MODEL_DIR
from models.registry import Registry
from nlp.files import sha256_file
from nlp.sentiment.transformer import ModelManifest
from tests.training.tiny_encoder import pruned_tokenizer_json, write_tiny_encoder
from training.reproduce import reproduction

runner = CliRunner()

POSITIVE = [
    "送餐很快，味道不错，下次还点",
    "客服小姐姐很耐心，问题解决了",
    "房间干净，早餐丰富，下次还会入住",
    "师傅上门安装很专业，点个赞",
    "东西收到了，质量不错，物流也快",
    "性价比很高，屏幕清晰，运行流畅",
    "包装很用心，分量足，好吃",
    "电池很耐用，充电也快，满意",
    "宝贝和描述一致，好评",
    "售后处理很及时，谢谢",
    "价格实惠，做工精细",
    "安装师傅很准时，态度很好",
]
NEGATIVE = [
    "快递太慢了，等了一个星期还没到",
    "退款申请三天了还没到账",
    "电话打了十几次都没人接，太失望了",
    "房间太小，隔音很差，前台态度冷淡",
    "送来的饭都凉了，而且少了一份菜",
    "用了两天就坏了，质量太差",
    "客服一直推脱，问题根本没解决",
    "味道太咸了，再也不点了",
    "屏幕有坏点，申请换货没人理",
    "充电器发热严重，不敢用",
    "说好的赠品没有，差评",
    "空调不制冷，晚上热得睡不着",
]
# Dev and test sets of the recipe: in no training file either.
HELD_OUT = [
    (1, "耳机音质很好，佩戴舒服"),
    (1, "净水器安装后水质明显变好"),
    (1, "退款到账很快，服务贴心"),
    (1, "物流很快，包装完好"),
    (0, "扫地机器人用了三天就坏了"),
    (0, "收到的衣服有污渍，退货还要自己出运费"),
    (0, "投诉了三次都没人处理"),
    (0, "安装师傅迟到两个小时还乱收费"),
]
# Golden set: clear reviews that are in no training file.
GOLDEN = [
    (1, "酒店位置好，交通方便，值得推荐"),
    (1, "书的印刷质量很好，内容也精彩"),
    (1, "菜品新鲜，还送了饮料，好评"),
    (1, "快递小哥送到家门口，非常方便"),
    (1, "很满意的一次购物，下次还来"),
    (1, "服务态度好，前台很热情"),
    (0, "商品和图片严重不符，非常失望"),
    (0, "外卖员态度恶劣，还骂人"),
    (0, "发票一直不给开，太坑了"),
    (0, "米饭夹生，菜里有头发，恶心"),
    (0, "酒店设施陈旧，卫生间有异味"),
    (0, "书有破损，像是二手的，差评"),
]
# The committed default model: the registry's built-in first version.
BUILTIN = ModelManifest.read(DEFAULT_MODEL_DIR / "manifest.json").version

RECIPE = """seed = 7
[data]
train = "runs/pool/none.tsv"
dev = "runs/pool/dev.tsv"
evals = { chnsenticorp_test = "runs/pool/test.tsv", chnsenticorp_dev = "runs/pool/dev.tsv" }
base_encoder = "runs/base-encoder"
ngram = "runs/ngram"
[model]
layers = 2
text_prefix = "query: "
max_length = 16
head_tokens = 5
dropout = 0.1
freeze_word_embeddings = true
[train]
batch_size = 8
lr = 1e-3
warmup_fraction = 0.1
weight_decay = 0.01
grad_clip = 1.0
epochs = 1
max_steps = 4
mega_batches = 2
checkpoint_every = 2
eval_every = 2
log_every = 1
eval_batch_size = 16
threads = 1
stop_after_minutes = 0
[export]
window_stride = 4
opset = 17
max_int8_loss_points = 100.0
"""


def write_tsv(path: Path, rows: list[tuple[int, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    return path


def write_gate(root: Path) -> None:
    """The golden set (golden/golden.tsv) and a registry config whose gate and validation use it."""
    write_tsv(root / "golden" / "golden.tsv", GOLDEN)
    (root / "registry.toml").write_text(
        '[gate]\nmargin_points = 1.0\nmetrics = ["accuracy"]\n[gate.golden]\nclear = "golden/golden.tsv"\n'
        '[validation]\nmin_rows = 10\nmin_label_share = 0.2\nduplicates = "error"\n',
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo-like root: a tiny random 2-layer BERT as runs/base-encoder (the real e5 tokenizer pruned
    to the pieces of these texts), dev/test sets, the recipe, and a registry config with the golden set."""
    root = tmp_path_factory.mktemp("retrain")
    texts = [*POSITIVE, *NEGATIVE, *(t for _, t in HELD_OUT + GOLDEN)]
    write_tiny_encoder(root / "runs" / "base-encoder", pruned_tokenizer_json(texts))
    write_tsv(root / "runs" / "pool" / "dev.tsv", HELD_OUT)
    write_tsv(root / "runs" / "pool" / "test.tsv", HELD_OUT[1::2])
    (root / "recipe.toml").write_text(RECIPE, encoding="utf-8")
    write_gate(root)
    return root


@pytest.fixture
def home(tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KESHENG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KESHENG_REGISTRY_CONFIG", str(workspace / "registry.toml"))
    return tmp_path / "home"


def train(workspace: Path, out: Path, data: Path, *extra: str) -> Any:
    args = ["train", "--config", str(workspace / "recipe.toml"), "--data", str(data), "--root", str(workspace)]
    return runner.invoke(app, [*args, "--out", str(out), *extra])


def score(*args: str) -> str:
    result = runner.invoke(app, ["score", *args, "-"], input="快递太慢了，客服也不理人\n")
    assert result.exit_code == 0, result.output
    version: str = json.loads(result.output.strip().splitlines()[-1])["model_version"]
    return version


def test_bad_training_data_is_refused_before_training(workspace: Path, home: Path, tmp_path: Path) -> None:
    data = write_tsv(
        tmp_path / "mine.tsv",
        [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE] + [(5, "还行吧"), (0, GOLDEN[0][1])],
    )
    result = train(workspace, tmp_path / "run", data, "--from-base")
    assert result.exit_code == 2
    assert f"{data}:26 [label]: label must be 0 (negative) or 1 (positive), or three-way" in result.output
    assert "got '5'" in result.output
    assert f"{data}:27 [text]: text is in evaluation set 'golden:clear'" in result.output
    assert "nothing was trained" in result.output
    assert not (tmp_path / "run" / "last").exists()
    assert [v.version for v in Registry.from_env().list_versions()] == [BUILTIN]


def test_train_gate_promote_score_retrain_rollback(workspace: Path, home: Path, tmp_path: Path) -> None:
    data = write_tsv(tmp_path / "mine.tsv", [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE])
    builtin = score()
    assert builtin == BUILTIN

    result = train(workspace, tmp_path / "run", data, "--set", "train.max_steps=3", "--from-base")
    assert result.exit_code == 0, result.output
    assert "validated: 24 training texts (12 positive, 12 negative)" in result.output
    assert "step 3/3" in result.output and "fine-tuning from base encoder runs/base-encoder" in result.output
    registry = Registry.from_env()
    new = registry.list_versions()[-1]
    assert not new.active and new.parent_version == builtin
    assert new.manifest["training_data"]["files"][0]["sha256"] == sha256_file(data)
    assert new.manifest["config"]["train"]["max_steps"] == 3
    assert new.checkpoint is not None and (new.path / "report.html").is_file()
    # The recipe's n-gram model was refitted on this run's own data and shipped with the version.
    assert "n-gram model fitted on 24 texts" in result.output
    assert (new.path / "ngram.safetensors").is_file() and new.manifest["config"]["data"]["ngram"].endswith("ngram")
    assert f"registered {new.version} (parent {builtin})" in result.output
    assert f"promote with: kesheng models promote {new.version}" in result.output

    # The gate: a 3-step random encoder is far worse than the committed model on the golden set.
    refused = runner.invoke(app, ["models", "promote", new.version])
    assert refused.exit_code == 1, refused.output
    comparison = registry.compare(new.version)
    assert not comparison.passed
    (accuracy,) = comparison.deltas
    assert f"{accuracy.baseline:.4f}" in refused.output and f"{accuracy.candidate:.4f}" in refused.output
    assert f"clear accuracy {accuracy.delta_points:+.2f} pt" in refused.output
    assert score() == builtin

    forced = runner.invoke(app, ["models", "promote", new.version, "--force"])
    assert forced.exit_code == 0, forced.output
    assert f"{builtin} → {new.version}" in forced.output
    assert score() == new.version
    assert score("--model", builtin) == builtin
    listed = runner.invoke(app, ["models", "list"])
    assert f"* {new.version}" in listed.output
    golden = str(workspace / "golden/golden.tsv")
    evaluated = runner.invoke(
        app, ["evaluate", "--model", new.version, "--data", golden, "--out", str(tmp_path / "ev")]
    )
    assert evaluated.exit_code == 0 and f"# Evaluation of {new.version}" in evaluated.output
    assert "<svg" in (tmp_path / "ev" / "report.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "ev" / "report.json").read_text(encoding="utf-8"))["model_version"] == new.version

    # The next retrain starts from the active version's weights, and records it as the parent.
    again = train(workspace, tmp_path / "run2", data, "--version", "tiny-2")
    assert again.exit_code == 0, again.output
    assert f"fine-tuning from version {new.version}" in again.output
    assert Registry.from_env().get("tiny-2").parent_version == new.version
    rerun = train(workspace, tmp_path / "run2", data)
    assert rerun.exit_code == 2 and "pass --resume" in rerun.output

    rolled = runner.invoke(app, ["models", "rollback"])
    assert rolled.exit_code == 0 and f"{new.version} → {builtin}" in rolled.output
    assert score() == builtin
    # A resumed run keeps the lineage it started with, whatever is active now.
    resumed = train(workspace, tmp_path / "run2", data, "--resume", "--version", "tiny-3")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed at step 4" in resumed.output and f"fine-tuning from version {new.version}" in resumed.output
    assert Registry.from_env().get("tiny-3").parent_version == new.version
    unknown = runner.invoke(app, ["score", "--model", "v-none", "-"], input="好\n")
    assert unknown.exit_code == 2 and "neither a model folder nor a registered version" in unknown.output


def test_a_version_is_reproduced_from_its_manifest(workspace: Path, home: Path, tmp_path: Path) -> None:
    data = write_tsv(tmp_path / "mine.tsv", [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE])
    first = train(workspace, tmp_path / "run", data, "--version", "tiny-1", "--from-base")
    assert first.exit_code == 0, first.output
    assert "figures within" not in first.output  # --data: a new model, not a reproduction
    recorded = Registry.from_env().get("tiny-1")
    args = ["train", "--config", str(recorded.path / "manifest.json"), "--root", str(workspace), "--from-base"]
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "again"), "--version", "tiny-1-again"])
    assert again.exit_code == 0, again.output
    assert "reproduced: tiny-1's figures within ±0.5 pt" in again.output
    replayed = Registry.from_env().get("tiny-1-again").manifest["reproduces"]
    assert replayed["version"] == "tiny-1" and replayed["reproduced"]
    # Same recipe, data and seed on the same machine: the same figures, set by set.
    assert {(d["set"], d["metric"]) for d in replayed["deltas"]} == {
        (name, metric) for name in ("chnsenticorp_test", "chnsenticorp_dev") for metric in ("accuracy", "macro_f1")
    } | {(name, "roc_auc") for name in ("chnsenticorp_test", "chnsenticorp_dev")}
    assert all(d["now"] == d["recorded"] for d in replayed["deltas"])


def test_a_reproduction_beyond_the_tolerance_is_named() -> None:
    recorded = {
        "version": "e5s-zh-2",
        "metrics": {
            "chnsenticorp_test": {"accuracy": 0.9025, "macro_f1": 0.9023, "roc_auc": 0.9577, "n": 1200},
            "waimai_heldout": {"accuracy": 0.8972, "macro_f1": 0.8823, "roc_auc": 0.9450, "n": 1197},
            "fp32_vs_int8": {"shipped": "int8"},
        },
    }
    now = {
        "chnsenticorp_test": {"accuracy": 0.9058, "macro_f1": 0.9055, "roc_auc": 0.9581, "n": 1200},
        "waimai_heldout": {"accuracy": 0.8897, "macro_f1": 0.8790, "roc_auc": 0.9441, "n": 1197},
    }
    result = reproduction(recorded, now)
    assert len(result.deltas) == 6 and not result.reproduced
    (miss,) = result.misses
    assert (miss.golden_set, miss.metric) == ("waimai_heldout", "accuracy")
    assert round(miss.delta_points, 2) == -0.75
    table = result.table()
    assert "waimai_heldout" in table and "-0.75  ✗ beyond ±0.5 pt" in table
    assert table.endswith("NOT reproduced: e5s-zh-2's figures within ±0.5 pt")
    assert not reproduction(recorded, {}).reproduced  # nothing in common: nothing reproduced
