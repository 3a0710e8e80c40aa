"""The character n-gram model: fitting on real reviews, saving and loading, and how the transformer
scorer mixes it in when a model folder carries one."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from nlp.errors import ModelError
from nlp.sentiment.ngram import PARAMS_FILE, WEIGHTS_FILE, NgramModel, NgramParams
from nlp.sentiment.transformer import TransformerScorer
from tests.conftest import tiny_manifest, write_manifest
from training.ngram import fit_ngram

# Real delivery, shopping and hotel reviews, 1 = positive.
TRAIN = [
    (1, "送餐很快，味道不错，下次还点"),
    (1, "东西收到了，质量不错，物流也快"),
    (1, "房间干净，早餐丰富，下次还会入住"),
    (1, "性价比很高，屏幕清晰，运行流畅，好评"),
    (1, "包装很用心，分量足，好吃，好评"),
    (1, "客服态度很好，问题很快解决了，满意"),
    (1, "师傅安装很专业，非常满意"),
    (1, "宝贝和描述一致，好评"),
    (0, "快递太慢了，等了一个星期，差评"),
    (0, "送来的饭都凉了，而且少了一份菜，差评"),
    (0, "用了两天就坏了，质量太差"),
    (0, "味道太咸了，再也不点了"),
    (0, "房间太小，隔音很差，不推荐"),
    (0, "客服一直推脱，问题没解决，太失望了"),
    (0, "商品和图片严重不符，差评"),
    (0, "充电器发热严重，质量差，不推荐"),
]
SMALL = NgramParams(n_features=2**12)


@pytest.fixture(scope="module")
def model() -> NgramModel:
    return fit_ngram([t for _, t in TRAIN], [label for label, _ in TRAIN], SMALL)


@pytest.mark.parametrize(
    ("text", "positive"),
    [
        ("质量不错，好评", True),
        ("物流很快，满意", True),
        ("质量太差，差评", False),
        ("太失望了，不推荐", False),
    ],
)
def test_margin_sign_follows_the_telling_phrases(model: NgramModel, text: str, positive: bool) -> None:
    (margin,) = model.margins([text])
    assert (margin > 0) == positive


def test_save_and_load_give_the_same_margins(model: NgramModel, tmp_path: Path) -> None:
    model.save(tmp_path)
    loaded = NgramModel.load(tmp_path)
    assert loaded.params == SMALL
    texts = [t for _, t in TRAIN] + ["没有见过的句子：安装师傅迟到了两个小时"]
    # Coefficients are stored as float16; the margins agree to that precision.
    np.testing.assert_allclose(loaded.margins(texts), model.margins(texts), atol=2e-2)
    assert model.margins([]).shape == (0,)


def test_load_names_the_missing_or_wrong_file(model: NgramModel, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"ngram\.safetensors: missing"):
        NgramModel.load(tmp_path)
    model.save(tmp_path)
    (tmp_path / PARAMS_FILE).write_text('{"n_features": 1024, "ngram_min": 1, "ngram_max": 3, "intercept": 0}')
    with pytest.raises(ModelError, match="expected vectors of 1024 features"):
        NgramModel.load(tmp_path)


def test_scorer_mixes_the_ngram_logit_by_the_manifest_weight(
    model: NgramModel, tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(tiny_model_dir, folder)
    model.save(folder)
    write_manifest(folder, tiny_manifest(ngram_weight=0.4))
    mixed = TransformerScorer.load(folder)
    plain = TransformerScorer.load(tiny_model_dir)
    texts = ["快递太慢了，差评", "", "房间干净，早餐丰富", "客服态度很好"]
    expected = 0.6 * plain.logits(texts)
    margins = NgramModel.load(folder).margins(texts)
    expected[[0, 2, 3], 1] += 0.4 * margins[[0, 2, 3]]
    np.testing.assert_allclose(mixed.logits(texts), expected, rtol=1e-6, atol=1e-6)
    assert mixed.negative_probabilities([""])[0] == 0.5
    np.testing.assert_allclose(mixed.transformer_logits(texts), plain.logits(texts))


@pytest.mark.parametrize(("weight", "message"), [(1.5, r"must be in \[0, 1\)"), (0.3, r"ngram\.safetensors: missing")])
def test_bad_ngram_weight_or_missing_files_are_refused(
    tiny_model_dir: Path, tmp_path: Path, weight: float, message: str
) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, folder)
    write_manifest(folder, tiny_manifest(ngram_weight=weight))
    assert not (folder / WEIGHTS_FILE).exists()
    with pytest.raises(ModelError, match=message):
        TransformerScorer.load(folder)


# --- multi-class heads next to a three-way model ------------------------------------------------


def _three_way_with_heads(tiny_three_way_dir: Path, folder: Path, weight: float) -> Path:
    from nlp.sentiment.ngram import NgramHead, save_heads

    shutil.copytree(tiny_three_way_dir, folder)
    model = fit_ngram([t for _, t in TRAIN], [y for y, _ in TRAIN], SMALL)
    model.save(folder)
    # An emotion head that reads 差评 as angry and 满意 as happy, from the same hashed features.
    features = model.features(["差评", "满意"])
    rows = np.unique(features.indices)
    coef = np.zeros((len(rows), 6), dtype=np.float32)
    for text_row, emotion in ((0, 0), (1, 4)):
        for feature in features[text_row].indices:
            coef[np.searchsorted(rows, feature), emotion] += 8.0
    save_heads(folder, {"emotion": NgramHead.build(rows, coef, np.zeros(6), SMALL.n_features)})
    manifest = tiny_manifest(
        labels=["negative", "neutral", "positive"],
        emotions=["angry", "sad", "fear", "surprise", "happy", "neutral"],
        emotion_temperature=1.0,
        ngram_weight=0.3,
        ngram_heads={"emotion": weight},
    )
    write_manifest(folder, manifest)
    return folder


def test_an_emotion_head_moves_the_emotion_towards_its_reading(tiny_three_way_dir: Path, tmp_path: Path) -> None:
    plain = TransformerScorer.load(_three_way_with_heads(tiny_three_way_dir, tmp_path / "plain", 0.0))
    mixed = TransformerScorer.load(_three_way_with_heads(tiny_three_way_dir, tmp_path / "mixed", 0.6))
    texts = ["差评", "满意"]
    _p, before = plain.probabilities(texts)
    _p, after = mixed.probabilities(texts)
    assert before is not None and after is not None
    assert np.allclose(after.sum(1), 1.0)
    assert after[0, 0] > before[0, 0] and after[1, 4] > before[1, 4]
    assert [s.emotion.label for s in mixed.score(texts) if s.emotion] == ["angry", "happy"]


def test_a_head_the_folder_does_not_have_is_refused(tiny_three_way_dir: Path, tmp_path: Path) -> None:
    folder = _three_way_with_heads(tiny_three_way_dir, tmp_path / "odd", 0.5)
    manifest = tiny_manifest(
        labels=["negative", "neutral", "positive"],
        emotions=["angry", "sad", "fear", "surprise", "happy", "neutral"],
        emotion_temperature=1.0,
        ngram_weight=0.3,
        ngram_heads={"polarity": 0.5},
    )
    write_manifest(folder, manifest)
    with pytest.raises(ModelError, match="no head 'polarity'"):
        TransformerScorer.load(folder)
