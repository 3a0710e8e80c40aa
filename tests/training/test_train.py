"""The fine-tuning recipe end to end on a tiny randomly initialised encoder: config validation, head+tail
truncation, length-bucketed batches, checkpoint and exact resume, ONNX export with int8 and a manifest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from nlp.errors import ConfigError
from tests.training.tiny_encoder import pruned_tokenizer_json, write_tiny_encoder
from training.calibrate import classification_metrics, fit_temperature, nll, positive_probability
from training.classifier import encode, load_classifier
from training.config import Config, load_config
from training.distill import DistillationLoss
from training.encoder import QUERY_PREFIX
from training.export import export
from training.onnx_graph import fp32_nodes
from training.recipe import PACKAGED_RECIPE
from training.schedule import epoch_batches
from training.train import Trainer

# The packaged recipe (package data, found beside training.recipe) and the development pool's teacher recipe.
CONFIG = PACKAGED_RECIPE
TEACHER = PACKAGED_RECIPE.with_name("teacher.toml")

# Real reviews and service-call turns (waimai, JD, hotel, electronics), 1 = positive.
POSITIVE = [
    "送餐很快，味道不错，下次还点",
    "客服小姐姐很耐心，问题解决了",
    "房间干净，早餐丰富，下次还会入住",
    "师傅上门安装很专业，点个赞！",
    "东西收到了，质量不错，物流也快",
    "性价比很高，屏幕清晰，运行流畅",
    "包装很用心，分量足，好吃",
    "服务态度好，前台很热情",
    "电池很耐用，充电也快，满意",
    "快递小哥送到家门口，非常方便",
    "书的印刷质量很好，内容也精彩",
    "宝贝和描述一致，好评",
    "酒店位置好，交通方便，值得推荐",
    "售后处理很及时，谢谢",
    "菜品新鲜，还送了饮料，好评",
    "用了一个月了，没有任何问题，推荐购买",
    "价格实惠，做工精细",
    "很满意的一次购物",
    "这家店的米饭特别香，再来一份",
    "安装师傅很准时，态度很好",
]
NEGATIVE = [
    "快递太慢了，等了一个星期还没到",
    "退款申请三天了还没到账，你们到底管不管",
    "电话打了十几次都没人接，太失望了",
    "房间太小，隔音很差，前台态度冷淡",
    "送来的饭都凉了，而且少了一份菜",
    "用了两天就坏了，质量太差",
    "客服一直推脱，问题根本没解决",
    "味道太咸了，再也不点了",
    "屏幕有坏点，申请换货没人理",
    "酒店设施陈旧，卫生间有异味",
    "等了两个小时才送到，汤都洒了",
    "充电器发热严重，不敢用",
    "书有破损，像是二手的",
    "说好的赠品没有，差评",
    "外卖员态度恶劣，还骂人",
    "空调不制冷，晚上热得睡不着",
    "发票一直不给开，太坑了",
    "买了就降价，不给保价",
    "商品和图片严重不符",
    "米饭夹生，菜里有头发",
]
# Long review with the verdict at the end, longer than the tiny window.
LONG_REVIEW = "房间在走廊尽头，装修一般，早餐品种不多，停车场也比较远，" * 3 + "但总体来说前台服务很好，还会再来"


def write_tsv(path: Path, rows: list[tuple[int, str]]) -> None:
    path.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo-like root: runs/base-encoder (random 2-layer BERT, hidden 32) and runs/pool/*.tsv."""
    root = tmp_path_factory.mktemp("repo")
    write_tiny_encoder(root / "runs" / "base-encoder", pruned_tokenizer_json([*POSITIVE, *NEGATIVE, LONG_REVIEW]))
    pool = root / "runs" / "pool"
    pool.mkdir()
    rows = [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE]
    write_tsv(pool / "train.tsv", rows)
    write_tsv(pool / "dev.tsv", [*rows[::3], (1, LONG_REVIEW)])
    write_tsv(pool / "test.tsv", rows[1::4])
    return root


def tiny_config(**extra: str) -> Config:
    overrides = {
        "data.train": '"runs/pool/train.tsv"',
        "data.dev": '"runs/pool/dev.tsv"',
        "data.evals": '{ chnsenticorp_test = "runs/pool/test.tsv", chnsenticorp_dev = "runs/pool/dev.tsv" }',
        "data.base_encoder": '"runs/base-encoder"',
        "model.layers": "2",
        "model.max_length": "16",
        "model.head_tokens": "5",
        "train.batch_size": "8",
        "train.max_steps": "6",
        "train.lr": "1e-3",
        "train.mega_batches": "2",
        "train.checkpoint_every": "3",
        "train.eval_every": "3",
        "train.log_every": "1",
        "train.stop_after_minutes": "0",
        "data.teacher_logits": '""',
        "data.ngram": '""',
        "train.distill_weight": "0",
        **extra,
    }
    return load_config(CONFIG, [f"{k}={v}" for k, v in overrides.items()])


def test_real_configs_are_valid() -> None:
    config = load_config(CONFIG)
    assert config.model.text_prefix == QUERY_PREFIX
    assert config.model.head_tokens < config.model.max_length
    # The packaged recipe names no file: kesheng train fills in the data, dev share, golden sets and encoder.
    assert (config.data.train, config.data.dev, config.data.evals, config.data.base_encoder) == ("", "", {}, "")
    assert not config.data.teacher_logits and config.train.distill_weight == 0
    # Steps follow the user's data (epochs × batches), so 200 texts train in minutes, not hours.
    assert config.train.max_steps == 0 and config.train.epochs >= 1
    teacher = load_config(TEACHER)
    assert {"chnsenticorp_test", "waimai_heldout", "online_shopping_heldout", "chnsenticorp_dev"} <= set(
        teacher.data.evals
    )
    assert teacher.data.train == "runs/pool/train.tsv"


def test_a_recipe_without_files_is_refused_by_the_trainer(workspace: Path) -> None:
    config = load_config(CONFIG, ["model.layers=2", "model.max_length=16", "model.head_tokens=5"])
    with pytest.raises(ConfigError, match=r"data\.train names no file: .*kesheng train --data FILE"):
        Trainer(config, workspace / "runs" / "never", workspace)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.max_stepz=5"], "--set: train.max_stepz = 5: is not a known setting (E200)"),
        (["optimiser.lr=1e-4"], "--set: optimiser.lr = 0.0001: is not a known setting (E200)"),
        (["train.batch_size=true"], "sentiment.toml: train.batch_size = True: must be a whole number (E200)"),
        (["train.lr=fast"], "sentiment.toml: train.lr = 'fast': must be a number (E200)"),
        (["model.freeze_word_embeddings=1"], "sentiment.toml: model.freeze_word_embeddings = 1: must be true or false"),
        (["model.head_tokens=500"], "sentiment.toml: model.head_tokens = 500: must be below max_length (160)"),
        (["data.dev_fraction=1"], "sentiment.toml: data.dev_fraction = 1: must be in (0, 1) (E200)"),
        (["train.grad_clip=0"], "sentiment.toml: train.grad_clip = 0: must be > 0 (E200)"),
        (["train.epochs=0"], "sentiment.toml: train.epochs = 0: must be >= 1 when max_steps = 0"),
        (["train.max_steps"], "--set 'train.max_steps': expected SECTION.KEY=VALUE"),
    ],
)
def test_config_errors_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(CONFIG, overrides)


def test_unknown_and_missing_keys_in_the_file(tmp_path: Path) -> None:
    text = CONFIG.read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("dropout = 0.1", "dropout = 0.1\ndropuot = 0.2"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: model\.dropuot = 0\.2: is not a known setting \(E200\)"):
        load_config(bad)
    bad.write_text(text.replace("dropout = 0.1", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: model\.dropout = None: is required \(E200\)"):
        load_config(bad)


def test_distillation_needs_teacher_logits_of_the_right_shape(workspace: Path) -> None:
    with pytest.raises(ConfigError, match=r"train\.distill_weight = 0\.5: needs data\.teacher_logits"):
        tiny_config(**{"train.distill_weight": "0.5"})
    with pytest.raises(ConfigError, match=r"train\.distill_weight = 1\.5: must be in \[0, 1\]"):
        tiny_config(**{"train.distill_weight": "1.5", "data.teacher_logits": '"runs/pool/t.npy"'})
    config = tiny_config(**{"train.distill_weight": "0.5", "data.teacher_logits": '"runs/pool/missing.npy"'})
    with pytest.raises(ConfigError, match=r"missing\.npy: teacher logits not found"):
        Trainer(config, workspace / "runs" / "never", workspace)
    np.save(workspace / "runs" / "pool" / "short.npy", np.zeros((7, 2), dtype=np.float32))
    config = tiny_config(**{"train.distill_weight": "0.5", "data.teacher_logits": '"runs/pool/short.npy"'})
    with pytest.raises(ConfigError, match=r"shape \(7, 2\), expected \(40, 2\)"):
        Trainer(config, workspace / "runs" / "never", workspace)


def test_distillation_loss_pulls_towards_the_teacher() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    labels = torch.tensor([0, 1])
    hard = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(DistillationLoss(0.0, 2.0)(logits, labels, logits.flip(1)), hard)
    torch.testing.assert_close(DistillationLoss(0.5, 2.0)(logits, labels, None), hard)
    # A teacher that agrees with the student adds nothing; one that disagrees adds a penalty.
    torch.testing.assert_close(DistillationLoss(1.0, 2.0)(logits, labels, logits.clone()), torch.tensor(0.0))
    agree = DistillationLoss(0.5, 2.0)(logits, labels, logits.clone())
    disagree = DistillationLoss(0.5, 2.0)(logits, labels, logits.flip(1))
    assert disagree > agree
    torch.testing.assert_close(agree, 0.5 * hard)


def test_distilled_training_moves_towards_the_teacher(workspace: Path, tmp_path: Path) -> None:
    # A teacher that calls every text positive: with all weight on it, the student follows.
    teacher = np.tile(np.array([[-4.0, 4.0]], dtype=np.float32), (40, 1))
    np.save(workspace / "runs" / "pool" / "teacher.npy", teacher)
    config = tiny_config(
        **{"train.distill_weight": "1.0", "data.teacher_logits": '"runs/pool/teacher.npy"', "train.max_steps": "12"}
    )
    Trainer(config, tmp_path / "run", workspace).run()
    model, tokenizer, _raw = load_classifier(tmp_path / "run" / "last")
    rows = encode(tokenizer, NEGATIVE[:8], QUERY_PREFIX, 16, 5)
    with torch.no_grad():
        logits = torch.cat([model(*pad_rows([row])) for row in rows])
    assert bool((logits[:, 1] > logits[:, 0]).all())


def pad_rows(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor(rows, dtype=torch.long)
    return ids, torch.ones_like(ids)


def test_long_text_keeps_head_and_tail(workspace: Path) -> None:
    tokenizer = Tokenizer.from_file(str(workspace / "runs" / "base-encoder" / "tokenizer.json"))
    full = tokenizer.encode(QUERY_PREFIX + LONG_REVIEW).ids
    (kept,) = encode(tokenizer, [LONG_REVIEW], QUERY_PREFIX, 16, 5)
    assert len(full) > 16
    assert kept == full[:5] + full[-11:]
    assert tokenizer.decode(kept[-6:]).replace(" ", "").endswith("还会再来")
    (short,) = encode(tokenizer, ["好评"], QUERY_PREFIX, 16, 5)
    assert short == tokenizer.encode(QUERY_PREFIX + "好评").ids


def test_batches_cover_every_text_once_and_are_deterministic() -> None:
    lengths = [5, 40, 7, 38, 6, 41, 8, 39] * 8
    batches = epoch_batches(lengths, 8, 4, seed=7, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches == epoch_batches(lengths, 8, 4, seed=7, epoch=0)
    assert batches != epoch_batches(lengths, 8, 4, seed=7, epoch=1)
    # Sorting inside windows keeps long and short texts apart: far less padding than random batches.
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded < 0.8 * len(lengths) * max(lengths)


def test_temperature_and_metrics() -> None:
    labels = [1, 0, 1, 0, 1, 1, 0, 0]
    # Over-confident logits with two mistakes: the fitted temperature softens them (T > 1).
    margins = np.array([9, -8, 7, 6, 8, -9, -7, -6], dtype=np.float32)
    logits = np.stack([np.zeros_like(margins), margins], axis=1)
    t = fit_temperature(logits, labels)
    assert t > 1.0
    assert nll(logits, labels, t) < nll(logits, labels, 1.0)
    metrics = classification_metrics(logits, labels)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["confusion"] == {"tn": 3, "fp": 1, "fn": 1, "tp": 3}
    assert positive_probability(logits, t)[0] > 0.5


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_train_resume_and_export(workspace: Path, tmp_path: Path) -> None:
    config = tiny_config()
    straight = tmp_path / "straight"
    Trainer(config, straight, workspace).run()

    interrupted = tmp_path / "interrupted"
    Trainer(config, interrupted, workspace).run(stop_at_step=3)
    assert json.loads((interrupted / "last" / "state.json").read_text())["step"] == 3
    resumed = Trainer(config, interrupted, workspace)
    resumed.resume()
    assert resumed.state["step"] == 3
    resumed.run()
    assert resumed.state["step"] == 6

    a, b = weights(straight / "last"), weights(interrupted / "last")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    # The frozen word embeddings did not move; the trained head did.
    start = load_file(str(workspace / "runs" / "base-encoder" / "model.safetensors"))
    torch.testing.assert_close(
        a["encoder.embeddings.word_embeddings.weight"], start["embeddings.word_embeddings.weight"]
    )
    assert not torch.equal(
        a["encoder.encoder.layer.0.output.dense.weight"], start["encoder.layer.0.output.dense.weight"]
    )
    history = [json.loads(line) for line in (straight / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history if "dev" in r] == [3, 6]

    model, tokenizer, _raw = load_classifier(straight / "best")
    out = tmp_path / "model"
    manifest = export(straight / "best", out, tmp_path / "work", workspace, threads=1)
    assert sorted(p.name for p in out.iterdir()) == [
        "MODEL_CARD.md",
        "manifest.json",
        "model.onnx",
        "tokenizer.json",
    ]
    saved = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert saved == manifest
    assert saved["labels"] == ["negative", "positive"]
    assert saved["max_length"] == 16 and saved["text_prefix"] == QUERY_PREFIX
    assert saved["temperature"] > 0
    assert saved["config"]["model"]["layers"] == 2
    assert set(saved["metrics"]) == {"chnsenticorp_test", "chnsenticorp_dev", "fp32_vs_int8"}
    assert saved["metrics"]["chnsenticorp_test"]["n"] == 10
    assert saved["data"]["runs/pool/train.tsv"]["count"] == 40
    assert saved["training"]["steps"] in (3, 6)
    assert "non-commercial" in (out / "MODEL_CARD.md").read_text(encoding="utf-8")

    # The fp32 candidates name real nodes of the graph: head + the first layer's FFN output, head + 2 FFN
    # outputs, then + 2 attention outputs.
    fp32_graph = tmp_path / "work" / "model-fp32.onnx"
    assert fp32_nodes(fp32_graph, "none") == []
    first = fp32_nodes(fp32_graph, "ffn_out_first")
    assert len(first) == 2 and any("/layer.0/output/dense/" in n for n in first)
    ffn = fp32_nodes(fp32_graph, "ffn_out")
    assert len(ffn) == 3 and any("/head/" in n for n in ffn)
    assert not any("/attention/" in n for n in ffn)
    assert len(fp32_nodes(fp32_graph, "ffn_out+attn_out")) == 5

    # The ONNX graph takes any batch and sequence length and agrees with torch.
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask"]
    rows = encode(tokenizer, [POSITIVE[0], NEGATIVE[0], LONG_REVIEW], QUERY_PREFIX, 16, 5)
    width = max(map(len, rows))
    ids = np.ones((3, width), dtype=np.int64)
    mask = np.zeros((3, width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    (logits,) = sess.run(["logits"], {"input_ids": ids, "attention_mask": mask})
    assert logits.shape == (3, 2) and logits.dtype == np.float32
    with torch.no_grad():
        reference = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    assert np.abs(logits - reference).max() < 0.05


def test_export_mixes_in_the_ngram_model(workspace: Path, tmp_path: Path) -> None:
    from nlp.sentiment.ngram import NgramParams
    from nlp.sentiment.transformer import TransformerScorer
    from training.ngram import fit_ngram

    rows = [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE]
    fit_ngram([t for _, t in rows], [label for label, _ in rows], NgramParams(n_features=2**12)).save(
        workspace / "runs" / "ngram"
    )
    Trainer(tiny_config(**{"train.max_steps": "3", "export.window_stride": "4"}), tmp_path / "run", workspace).run()
    config_file = tmp_path / "run" / "best" / "train_config.json"
    raw = json.loads(config_file.read_text(encoding="utf-8"))
    raw["data"]["ngram"] = "runs/ngram"
    config_file.write_text(json.dumps(raw), encoding="utf-8")

    out = tmp_path / "model"
    manifest = export(tmp_path / "run" / "best", out, tmp_path / "work", workspace, threads=1, version="tiny-mix")
    assert manifest["version"] == "tiny-mix"
    mix = manifest["metrics"]["ngram_mix"]
    assert 0.0 <= mix["weight"] <= 0.7
    assert set(mix["chnsenticorp_dev"]) == {"transformer", "ngram"}
    # The dev set was written from the training rows, which the n-gram model has learnt by heart.
    assert mix["chnsenticorp_dev"]["ngram"]["accuracy"] > 0.9
    assert mix["weight"] > 0, "the tiny random transformer knows nothing; the n-gram model must get weight"
    assert manifest["ngram_weight"] == mix["weight"]
    assert (out / "ngram.safetensors").is_file() and (out / "ngram.json").is_file()
    scorer = TransformerScorer.load(out)
    assert scorer.version == "tiny-mix"
    assert scorer.negative_probabilities(["质量太差", "很满意的一次购物"]).shape == (2,)
