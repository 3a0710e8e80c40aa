"""The pieces of the three-way path: the heads read back from a fused export, the loss on your rows
(what a label says is learnt, what it does not say is distilled), the dev figures, three-way
validation (words, Chinese, 0/1/2, emotions, empty cells), the dev share and the recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nlp.errors import ConfigError
from tests.training.tiny_encoder import nudged_multihead, tiny_bert_config
from training.from_onnx import read_export
from training.multitask import IGNORE
from training.multitask_user import Targets, dev_figures, user_loss
from training.onnx_graph import export_onnx, fuse
from training.recipe import PACKAGED_THREE_WAY_RECIPE, UserTrain, hold_out_rows, resolve_three_way_recipe
from training.validate import (
    TrainingExample,
    ValidationConfig,
    read_labelled_tsv,
    validate,
    write_labelled_tsv,
)

LOOSE = ValidationConfig(min_rows=1, min_label_share=0.0)
NEG, NEU, POS = 0, 1, 2
ANGRY, SAD, FEAR, SURPRISE, HAPPY, CALM = range(6)


def recipe_train(distill_weight: float = 0.5) -> UserTrain:
    plan = resolve_three_way_recipe(
        PACKAGED_THREE_WAY_RECIPE,
        data=[Path("mine.tsv")],
        overrides=[f"train.distill_weight={distill_weight}"],
        root=Path("."),
        out=Path("run"),
        golden={},
    )
    return plan.recipe.train


# ---- from_onnx ----------------------------------------------------------------------------------------
def test_a_fused_multi_head_export_gives_back_the_weights(tmp_path: Path) -> None:
    model = nudged_multihead(tiny_bert_config(80, heads=4, max_positions=96), seed=3)
    model.eval()
    export_onnx(model, tmp_path / "raw.onnx", 17, ("logits", "emotion_logits"))
    fuse(tmp_path / "raw.onnx", tmp_path / "fused.onnx", 4, 32)
    exported = read_export(tmp_path / "fused.onnx")
    assert exported.num_attention_heads == 4 and set(exported.heads) == {"polarity", "emotion"}
    state = model.encoder.state_dict()
    assert set(exported.state) == set(state)
    for name, value in exported.state.items():
        np.testing.assert_allclose(value, state[name].numpy(), atol=1e-6, err_msg=name)
    for head in ("polarity", "emotion"):
        weight, bias = exported.heads[head]
        np.testing.assert_allclose(weight, getattr(model, head).weight.detach().numpy(), atol=1e-6)
        np.testing.assert_allclose(bias, getattr(model, head).bias.detach().numpy(), atol=1e-6)


# ---- the loss ----------------------------------------------------------------------------------------
def targets(polarity: list[int], two_way: list[bool], emotion: list[int], teacher: torch.Tensor) -> Targets:
    return Targets(
        torch.tensor(polarity),
        torch.tensor(two_way),
        torch.tensor(emotion),
        teacher[:, :3].clone(),
        teacher[:, 3:].clone(),
    )


def test_a_two_way_label_moves_the_pair_and_leaves_neutral_to_the_start() -> None:
    torch.manual_seed(0)
    polarity = torch.randn(2, 3, requires_grad=True)
    emotion = torch.randn(2, 6, requires_grad=True)
    # Row 0: "negative" from a 0/1 file; row 1: "negative" from a file that also says neutral.
    batch = targets([NEG, NEG], [True, False], [IGNORE, IGNORE], torch.randn(2, 9))
    loss = user_loss(polarity, emotion, batch, recipe_train(0.0), teacher_three_way=True, teacher_emotions=True)
    loss.backward()  # type: ignore[no-untyped-call]
    assert polarity.grad is not None
    assert polarity.grad[0, NEU] == 0.0 and polarity.grad[0, NEG] < 0 < polarity.grad[0, POS]
    assert polarity.grad[1, NEU] > 0  # a three-way "negative" also says "not neutral"
    # Without distillation nothing pulls the emotion head of rows that have no emotion.
    assert emotion.grad is None or torch.all(emotion.grad == 0)


def test_what_a_row_does_not_say_is_distilled_towards_the_start() -> None:
    torch.manual_seed(1)
    teacher = torch.randn(3, 9)
    train = recipe_train(0.5)
    # Rows with an emotion only: polarity distilled; the student equal to the teacher costs nothing there.
    batch = targets([IGNORE, IGNORE, IGNORE], [False] * 3, [ANGRY, FEAR, CALM], teacher)
    same = user_loss(
        teacher[:, :3].clone(), teacher[:, 3:].clone(), batch, train, teacher_three_way=True, teacher_emotions=True
    )
    ce = torch.nn.functional.cross_entropy(teacher[:, 3:], torch.tensor([ANGRY, FEAR, CALM]))
    assert torch.isclose(same, ce, atol=1e-6)
    moved = user_loss(
        teacher[:, :3] + torch.tensor([2.0, 0.0, -2.0]),
        teacher[:, 3:].clone(),
        batch,
        train,
        teacher_three_way=True,
        teacher_emotions=True,
    )
    assert moved > same + 0.1
    # A binary start has no neutral reading: only its negative-vs-positive split is kept.
    shifted = user_loss(
        teacher[:, :3] + torch.tensor([0.0, 5.0, 0.0]),
        teacher[:, 3:].clone(),
        batch,
        train,
        teacher_three_way=False,
        teacher_emotions=True,
    )
    assert torch.isclose(shifted, ce, atol=1e-6)


# ---- dev figures -----------------------------------------------------------------------------------------
def test_dev_figures_are_those_the_labels_allow() -> None:
    rows = [
        TrainingExample("是不是不能改价呀", NEU, CALM, False, "a:2"),
        TrainingExample("客服一直推脱，问题根本没解决", NEG, ANGRY, False, "a:3"),
        TrainingExample("送餐很快，味道不错", POS, None, False, "a:4"),
        TrainingExample("电话打了十几次没人接", NEG, None, True, "b:2"),
        TrainingExample("价格实惠，做工精细", POS, None, True, "b:3"),
    ]
    polarity = np.asarray(
        [[0, 3, 0], [2, 0, 1], [0, 2, 1], [1, 5, 0], [2, 5, 0]], dtype=np.float32
    )  # neutral, negative, neutral (wrong), leans negative, leans negative (wrong)
    emotion = np.zeros((5, 6), dtype=np.float32)
    emotion[0, CALM] = emotion[1, SAD] = 1.0  # right, wrong
    figures = dev_figures(rows, polarity, emotion)
    # three-way: negative F1 1, neutral P 1/2 R 1 → 2/3, positive 0: (1 + 2/3 + 0) / 3
    assert figures["three_way_macro_f1"] == pytest.approx((1 + 2 / 3) / 3)
    assert figures["binary_accuracy"] == 0.5
    assert figures["emotion_macro_f1"] == pytest.approx(0.5)  # over the classes the rows hold: angry 0, neutral 1
    assert figures["score"] == pytest.approx(np.mean([(1 + 2 / 3) / 3, 0.5, 0.5]))
    assert dev_figures([], polarity[:0], emotion[:0]) == {"score": 0.0}


# ---- validation ------------------------------------------------------------------------------------------
def test_three_way_files_read_words_chinese_numbers_and_emotions(tmp_path: Path) -> None:
    words = tmp_path / "words.tsv"
    words.write_text(
        "label\temotion\ttext\nneutral\t\t请问几点关门\nnegative\tangry\t客服一直推脱\n\tfear\t孩子用了会不会过敏啊\n",
        encoding="utf-8",
    )
    chinese = tmp_path / "中文.csv"
    chinese.write_text("评价,标签,情绪\n送餐很快，味道不错,正面,满意\n好的,中性,中性\n", encoding="gb18030")
    numbers = tmp_path / "jddc.tsv"
    numbers.write_text("label\ttext\n0\t快递太慢了\n2\t谢谢，问题解决了\n1\t我想查一下订单\n", encoding="utf-8")
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(
        '{"text": "气死我了，一直没人管", "label": null, "emotion": "愤怒"}\n'
        '{"text": "居然第二天就到了", "label": "positive", "emotion": "surprise"}\n',
        encoding="utf-8",
    )
    report = validate([words, chinese, numbers, jsonl], {}, LOOSE)
    assert not report.errors and report.kind == "three-way" and report.examples == ()
    read = [(r.text, r.polarity, r.emotion, r.two_way) for r in report.rows]
    assert read == [
        ("请问几点关门", NEU, None, False),
        ("客服一直推脱", NEG, ANGRY, False),
        ("孩子用了会不会过敏啊", None, FEAR, False),
        ("送餐很快，味道不错", POS, HAPPY, False),
        ("好的", NEU, CALM, False),
        ("快递太慢了", NEG, None, False),
        ("谢谢，问题解决了", POS, None, False),
        ("我想查一下订单", NEU, None, False),
        ("气死我了，一直没人管", None, ANGRY, False),
        ("居然第二天就到了", POS, SURPRISE, True),
    ]
    # The numbers of jddc.tsv are read as three-way because of its 2: said, with the row.
    (warning,) = report.warnings
    assert (warning.kind, warning.location.file, warning.location.row) == ("three_way_numbers", str(numbers), 3)
    assert "0 negative, 1 neutral, 2 positive" in warning.message
    assert report.summary().startswith(
        "10 training texts (2 negative, 3 neutral, 3 positive; 6 with an emotion "
        "(2 angry, 1 fear, 1 surprise, 1 happy, 1 neutral)) from 4 file(s)"
    )
    # The rows of more.jsonl (no neutral label) are two-way; an emotion-only row has no polarity to scope.
    assert [r.two_way for r in report.rows if r.source.startswith(str(jsonl))] == [False, True]
    clean = tmp_path / "clean.tsv"
    write_labelled_tsv(report.rows, clean)
    assert [(r.text, r.polarity, r.emotion, r.two_way) for r in read_labelled_tsv(clean)] == read


def test_three_way_conflicts_and_bad_cells_are_named(tmp_path: Path) -> None:
    first = tmp_path / "a.tsv"
    first.write_text("label\temotion\ttext\nnegative\tangry\t客服一直推脱\nneutral\t\t好的\n", encoding="utf-8")
    second = tmp_path / "b.tsv"
    second.write_text(
        "label\temotion\ttext\nnegative\tsad\t客服一直推脱\n中性\t开心\t请问几点关门\n\t\t发票开了吗\n",
        encoding="utf-8",
    )
    report = validate([first, second], {}, LOOSE)
    # Each file's own problems first, in row order; then those found across files.
    assert [str(p) for p in report.errors] == [
        f"error: {second}:3 [emotion]: emotion must be one of angry, sad, fear, surprise, happy, neutral or "
        "愤怒, 失望, 焦虑, 惊讶, 满意, 中性; got '开心'",
        f"error: {second}:4 [label]: neither a label nor an emotion; give one (or both) or remove the row",
        f"error: {second}:2 [text]: labelled negative/sad here but negative/angry at {first}:2; keep one label for "
        "this text",
    ]


def test_a_single_polarity_class_is_a_warning_for_three_way_data(tmp_path: Path) -> None:
    path = tmp_path / "questions.tsv"
    path.write_text("label\ttext\nneutral\t请问几点关门\nneutral\t发票可以开公司抬头吗\n", encoding="utf-8")
    report = validate([path], {}, LOOSE)
    assert not report.errors
    (warning,) = report.warnings
    assert warning.kind == "one_class" and "every polarity label is neutral" in warning.message


def test_the_dev_share_holds_out_each_label_and_emotion(tmp_path: Path) -> None:
    rows = [TrainingExample(f"文本{i}", i % 3, None, False, f"f:{i}") for i in range(30)]
    rows += [TrainingExample(f"情绪{i}", None, ANGRY, False, f"g:{i}") for i in range(4)]
    dev, train = hold_out_rows(rows, 0.2, 7)
    assert len(dev) + len(train) == len(rows) and not {r.source for r in dev} & {r.source for r in train}
    assert sorted(r.polarity for r in dev if r.polarity is not None) == [0, 0, 1, 1, 2, 2]
    assert [r.emotion for r in dev if r.polarity is None] == [ANGRY]
    assert hold_out_rows(rows, 0.2, 7) == (dev, train)  # seeded


# ---- the recipe ------------------------------------------------------------------------------------------
def test_the_three_way_recipe_fills_in_the_sets_and_checks_its_keys(tmp_path: Path) -> None:
    golden = tmp_path / "golden.tsv"
    golden.write_text("label\ttext\n1\t酒店位置好\n0\t商品和图片严重不符\n", encoding="utf-8")
    plan = resolve_three_way_recipe(
        PACKAGED_THREE_WAY_RECIPE,
        data=[tmp_path / "mine.tsv"],
        overrides=["train.epochs=3", "train.head_lr=5e-4"],
        root=tmp_path,
        out=tmp_path / "run",
        golden={"clear": golden},
    )
    assert plan.recipe.train.epochs == 3 and plan.recipe.train.head_lr == 5e-4
    assert plan.recipe.data.evals == {"clear": str(golden), "dev": str((tmp_path / "run/data/dev.tsv").resolve())}
    assert plan.evaluation_sets == {"golden:clear": golden}
    # A recorded recipe (a version's manifest) is read back as its config.
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"config": plan.recipe.to_dict()}), encoding="utf-8")
    again = resolve_three_way_recipe(
        manifest, data=[tmp_path / "mine.tsv"], overrides=[], root=tmp_path, out=tmp_path / "run2", golden={}
    )
    assert again.recipe.train == plan.recipe.train
    with pytest.raises(ConfigError, match=r"--set: train\.layers = 2: is not a known setting"):
        resolve_three_way_recipe(
            PACKAGED_THREE_WAY_RECIPE,
            data=[golden],
            overrides=["train.layers=2"],
            root=tmp_path,
            out=tmp_path,
            golden={},
        )
    with pytest.raises(ConfigError, match="give them with --data FILE"):
        resolve_three_way_recipe(
            PACKAGED_THREE_WAY_RECIPE, data=[], overrides=[], root=tmp_path, out=tmp_path, golden={}
        )
