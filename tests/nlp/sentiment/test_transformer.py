"""The transformer scorer's mechanics on a tiny random model (tests/conftest.py): batching by length,
empty text, sentence windows for long text, manifest validation, calibration by temperature.
The tiny model's predictions mean nothing, so these tests never assert a label's correctness."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nlp.config import BINARY_BAND, SentimentConfig
from nlp.errors import ModelError
from nlp.schema import EMOTIONS
from nlp.sentiment import SentimentScorer
from nlp.sentiment.transformer import InferenceConfig, TransformerScorer
from nlp.sentiment.windows import chunk_tokens, pack_sentences, sentence_ends, token_windows
from tests.conftest import TINY_MAX_LENGTH, TINY_VERSION, TINY_WINDOW_STRIDE, tiny_manifest, write_manifest

# Real customer text: JD chats, delivery and hotel reviews, survey answers; short to window-long.
TEXTS = [
    "快递太慢了",
    "好",
    "客服态度很好，问题很快就解决了",
    "退款申请三天了还没到账，你们到底管不管",
    "地址可以帮我修改下吗",
    "师傅上门安装很专业，点个赞！",
    "菜都凉了，送餐员态度还很差，再也不点这家了。",
    "房间干净，早餐丰富，下次还会入住",
    "电话打了十几次都没人接，太失望了",
    "东西质量不错，物流也快，包装很用心，给五星好评，以后还会再来买的，推荐给大家！",
    "嗯",
    "买错了 这个灯没有自带开关 装修师傅无法安装",
]
REVIEW_SENTENCES = [
    "酒店位置很好，离地铁站只有五分钟。",
    "前台服务态度一般，办理入住等了半个小时！",
    "房间比较小，隔音很差，晚上能听到隔壁说话。",
    "早餐品种不多；咖啡是速溶的。",
    "总的来说性价比还可以，下次出差可能还会考虑？",
]


@pytest.fixture(scope="module")
def scorer(tiny_model_dir: Path) -> TransformerScorer:
    # A small batch size, so that TEXTS spans several length-sorted batches.
    return TransformerScorer.load(tiny_model_dir, inference=InferenceConfig(batch_size=3))


def _copy_with_manifest(source: Path, target: Path, **overrides: Any) -> Path:
    shutil.copytree(source, target)
    write_manifest(target, tiny_manifest(**overrides))
    return target


def _long_review(chars: int) -> str:
    text = ""
    while len(text) < chars:
        text += "".join(REVIEW_SENTENCES)
    return text[:chars]


def test_load_implements_the_scorer_interface(scorer: TransformerScorer) -> None:
    assert isinstance(scorer, SentimentScorer)
    assert scorer.version == TINY_VERSION
    assert scorer.score(["快递太慢了"])[0].model_version == TINY_VERSION


def test_load_sets_hub_offline(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    TransformerScorer.load(tiny_model_dir, threads=1)
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_batch_keeps_input_order(scorer: TransformerScorer) -> None:
    together = scorer.negative_probabilities(TEXTS)
    alone = np.array([scorer.negative_probabilities([t])[0] for t in TEXTS])
    # Length sorting and padding must change nothing but the speed.
    np.testing.assert_allclose(together, alone, atol=1e-5)
    # ...and the texts really differ, so a shuffled order would have been caught.
    assert len({round(float(p), 4) for p in alone}) == len(TEXTS)
    reversed_texts = list(reversed(TEXTS))
    np.testing.assert_allclose(scorer.negative_probabilities(reversed_texts), alone[::-1], atol=1e-5)


def test_score_pipe_and_call_agree(scorer: TransformerScorer) -> None:
    sentiments = scorer.score(TEXTS)
    assert [s.negative_probability for s in scorer.pipe(TEXTS, batch_size=5)] == pytest.approx(
        [s.negative_probability for s in sentiments], abs=1e-6
    )
    assert scorer(TEXTS[2]).negative_probability == pytest.approx(sentiments[2].negative_probability, abs=1e-6)


@pytest.mark.parametrize("texts", [["", "快递太慢了", "   "], ["", "\n"]])
def test_empty_text_is_neutral_without_the_model(
    scorer: TransformerScorer, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    run = scorer.session.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[1]["input_ids"]))
        return run(*args, **kwargs)

    monkeypatch.setattr(scorer.session, "run", counting_run)
    sentiments = scorer.score(texts)
    assert len(sentiments) == len(texts)
    for text, sentiment in zip(texts, sentiments, strict=True):
        if not text.strip():
            assert sentiment.negative_probability == 0.5
            assert sentiment.label == "neutral"
            assert sentiment.score == 0.0
    assert sum(calls) == sum(1 for t in texts if t.strip())  # only non-empty texts reach the model


def test_probabilities_labels_and_scores_are_consistent(scorer: TransformerScorer) -> None:
    band = scorer.config
    for sentiment in scorer.score(TEXTS):
        p = sentiment.negative_probability
        assert 0.0 <= p <= 1.0
        assert sentiment.score == pytest.approx(1.0 - 2.0 * p)
        assert band.negative_above is None  # the default: two-class models read the binary band
        above, below = BINARY_BAND
        expected = "negative" if p >= above else "positive" if p <= below else "neutral"
        assert sentiment.label == expected


def test_long_text_is_scored_in_sentence_windows(scorer: TransformerScorer) -> None:
    text = _long_review(2000)
    windows = scorer.windows(text)
    assert len(windows) > 20  # 2,000 characters in windows of at most 32 tokens
    assert all(len(w) <= TINY_MAX_LENGTH and w[0] == 0 and w[-1] == 2 for w in windows)
    prefix = len(scorer.tokenizer.encode("query: ", add_special_tokens=False).ids)
    full_marks = {scorer.tokenizer.token_to_id(c) for c in "。！？；"} | {
        scorer.tokenizer.token_to_id(c) for c in "!?;"
    }
    # Every window but the last ends at a sentence end (sentences here are shorter than a window).
    assert all(int(w[-2]) in full_marks for w in windows[:-1])
    # Together the windows read every text token exactly once (no sentence needed cutting).
    body = sum(len(w) - 2 - prefix for w in windows)
    assert body == len(scorer.tokenizer.encode(text, add_special_tokens=False).ids) - 1  # less the leading ▁
    sentiments = scorer.score([text, "快递太慢了"])
    assert len(sentiments) == 2
    assert 0.0 <= sentiments[0].negative_probability <= 1.0


def test_long_text_logits_are_the_length_weighted_mean_of_its_windows(scorer: TransformerScorer) -> None:
    text = _long_review(300)
    windows = scorer.windows(text)
    assert len(windows) > 1
    per_window = np.concatenate(
        [
            scorer.session.run(["logits"], {"input_ids": w[None], "attention_mask": np.ones_like(w)[None]})[0]
            for w in windows
        ]
    )
    prefix = len(scorer.tokenizer.encode("query: ").ids)  # <s>, prefix, </s>
    weights = np.array([len(w) - prefix for w in windows], dtype=np.float64)
    expected = (per_window * weights[:, None]).sum(0) / weights.sum()
    np.testing.assert_allclose(scorer.logits([text])[0], expected, atol=1e-5)


def test_a_sentence_longer_than_a_window_is_cut_with_overlap(scorer: TransformerScorer) -> None:
    # One 90-character sentence, no marks: cut into token chunks sharing window_stride tokens.
    text = "这个净水器用了不到一个月就开始漏水打电话给客服说让等通知结果等了一个星期也没有人联系我" * 2
    windows = scorer.windows(text)
    assert len(windows) >= 3
    prefix = len(scorer.tokenizer.encode("query: ", add_special_tokens=False).ids)
    bodies = [w[1 + prefix : -1].tolist() for w in windows]
    assert all(len(b) == TINY_MAX_LENGTH - 2 - prefix for b in bodies)
    # The last chunk ends at the text's end instead, so its overlap is larger.
    for left, right in itertools.pairwise(bodies[:-1]):
        assert left[-TINY_WINDOW_STRIDE:] == right[:TINY_WINDOW_STRIDE]


@pytest.mark.parametrize(
    "key",
    ["name", "version", "format", "labels", "text_prefix", "max_length", "window_stride", "temperature"],
)
def test_manifest_missing_key_names_it(tiny_model_dir: Path, tmp_path: Path, key: str) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    manifest = tiny_manifest()
    del manifest[key]
    write_manifest(folder, manifest)
    with pytest.raises(ModelError, match=rf"manifest\.json: missing key '{key}'"):
        TransformerScorer.load(folder)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"format": "safetensors"}, "key 'format' must be 'onnx'"),
        ({"labels": ["positive", "negative"]}, "key 'labels' must be"),
        ({"temperature": 0}, "key 'temperature' must be > 0"),
        ({"max_length": "128"}, "key 'max_length' has the wrong type"),
        ({"max_length": 10}, "max_length 10 leaves"),
        ({"window_stride": 40}, "need more than window_stride 40"),
    ],
)
def test_manifest_bad_values_are_named(
    tiny_model_dir: Path, tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    folder = _copy_with_manifest(tiny_model_dir, tmp_path / "model", **overrides)
    with pytest.raises(ModelError, match=message):
        TransformerScorer.load(folder)


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json", "manifest.json"])
def test_missing_file_is_named(tiny_model_dir: Path, tmp_path: Path, missing: str) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (folder / missing).unlink()
    with pytest.raises(ModelError, match=missing):
        TransformerScorer.load(folder)


def test_unreadable_manifest_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"manifest\.json: not a readable JSON manifest"):
        TransformerScorer.load(folder)


def test_temperature_scales_the_logit_margin(tiny_model_dir: Path, tmp_path: Path, scorer: TransformerScorer) -> None:
    hot = TransformerScorer.load(_copy_with_manifest(tiny_model_dir, tmp_path / "hot", temperature=2.0))
    cold = scorer.negative_probabilities(TEXTS)
    warm = hot.negative_probabilities(TEXTS)

    def margin(p: float) -> float:
        return math.log((1.0 - p) / p)

    for p1, p2 in zip(cold, warm, strict=True):
        assert margin(float(p2)) == pytest.approx(margin(float(p1)) / 2.0, abs=1e-4)
        assert abs(p2 - 0.5) <= abs(p1 - 0.5)
    assert json.loads((tmp_path / "hot" / "manifest.json").read_text(encoding="utf-8"))["temperature"] == 2.0


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("快递太慢了", [5]),
        ("快递太慢了。客服也不理人！", [6, 13]),
        ("好评!!下次再来", [4, 8]),
        ("第一行\n第二行；第三行?", [4, 8, 12]),
        ("为什么还没发货？？？", [10]),
    ],
)
def test_sentence_ends(text: str, ends: list[int]) -> None:
    assert sentence_ends(text) == ends


@pytest.mark.parametrize(
    ("counts", "budget", "ranges"),
    [
        ([3, 4, 5], 10, [(0, 2), (2, 3)]),
        ([3, 4, 5], 12, [(0, 3)]),
        ([12, 2, 2], 10, [(0, 1), (1, 3)]),
        ([2, 12, 2], 10, [(0, 1), (1, 2), (2, 3)]),
    ],
)
def test_pack_sentences(counts: list[int], budget: int, ranges: list[tuple[int, int]]) -> None:
    assert pack_sentences(counts, budget) == ranges


@pytest.mark.parametrize(
    ("n", "budget", "overlap", "ranges"),
    [
        (8, 10, 2, [(0, 8)]),
        (20, 10, 2, [(0, 10), (8, 18), (10, 20)]),
        (26, 10, 2, [(0, 10), (8, 18), (16, 26)]),
        (25, 10, 0, [(0, 10), (10, 20), (15, 25)]),
    ],
)
def test_chunk_tokens(n: int, budget: int, overlap: int, ranges: list[tuple[int, int]]) -> None:
    assert chunk_tokens(n, budget, overlap) == ranges


def test_token_windows_cut_only_the_oversized_sentence() -> None:
    assert token_windows([3, 4, 25, 2], budget=10, overlap=2) == [
        (0, 7),
        (7, 17),
        (15, 25),
        (22, 32),
        (32, 34),
    ]


@pytest.mark.parametrize(("batch_size", "batch_tokens"), [(4, 60), (32, 2048), (1, 1)])
def test_batches_respect_their_limits(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int, batch_tokens: int
) -> None:
    scorer = TransformerScorer.load(
        tiny_model_dir, inference=InferenceConfig(batch_size=batch_size, batch_tokens=batch_tokens)
    )
    shapes: list[tuple[int, int]] = []
    run = scorer.session.run

    def recording_run(*args: Any, **kwargs: Any) -> Any:
        shapes.append(args[1]["input_ids"].shape)
        return run(*args, **kwargs)

    monkeypatch.setattr(scorer.session, "run", recording_run)
    texts = [*TEXTS, _long_review(200)]
    probabilities = scorer.negative_probabilities(texts)
    windows = sum(len(scorer.windows(t)) for t in texts)
    assert sum(rows for rows, _width in shapes) == windows
    assert all(rows <= batch_size and (rows == 1 or rows * width <= batch_tokens) for rows, width in shapes)
    np.testing.assert_allclose(probabilities[:-1], [scorer.negative_probabilities([t])[0] for t in TEXTS], atol=1e-5)


def test_the_pipeline_scores_turns_and_calls_with_it(scorer: TransformerScorer) -> None:
    from nlp.config import PipelineConfig, RedactionConfig
    from nlp.normalize import normalize
    from nlp.pipeline import build_pipeline
    from nlp.schema import Item, Turn

    config = PipelineConfig(
        redaction=RedactionConfig(person_names=False), sentiment=SentimentConfig(call_aggregation="mean")
    )
    pipeline = build_pipeline(config, scorer=scorer)
    call = Item(
        id="c1",
        kind="transcript",
        text="",
        turns=(
            Turn("agent", "您好，这里是售后回访，请问净水器安装好了吗？"),
            Turn("customer", "装好了，但是师傅迟到了两个小时"),
            Turn("customer", "漏水的问题也没解决"),
        ),
    )
    result = pipeline(call)
    assert [t.sentiment.model_version for t in result.turns] == [TINY_VERSION] * 3
    customer = scorer.negative_probabilities([normalize(t.text) for t in call.turns[1:]])
    # The call is read from the customer's turns only (here their mean), never the agent's.
    assert result.sentiment.negative_probability == pytest.approx(float(customer.mean()), abs=1e-6)
    assert result.sentiment.model_version == TINY_VERSION


def test_windows_after_the_first_read_like_a_text_of_their_own(scorer: TransformerScorer) -> None:
    # Survey answers often separate sentences with a space: no window may start "query: ▁ ▁…".
    text = " ".join(REVIEW_SENTENCES * 4)
    windows = scorer.windows(text)
    assert len(windows) > 3
    head = scorer.tokenizer.encode("query: ").ids[:-1]  # <s> and the prefix, without </s>
    for window in windows:
        tokens = [scorer.tokenizer.id_to_token(int(i)) for i in window]
        assert window[: len(head)].tolist() == head
        assert tokens[len(head)] != "▁"


# --- three-way + emotion models -------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_way(tiny_three_way_dir: Path) -> TransformerScorer:
    return TransformerScorer.load(tiny_three_way_dir)


def test_a_three_way_model_gives_calibrated_probabilities_a_label_and_an_emotion(three_way: TransformerScorer) -> None:
    assert three_way.three_way
    texts = ["快递太慢了，客服也不理人", "请问什么时候发货", "好的谢谢", "菜很好吃，服务也周到"]
    polarity, emotion = three_way.probabilities(texts)
    assert polarity.shape == (4, 3) and emotion is not None and emotion.shape == (4, 6)
    assert np.allclose(polarity.sum(1), 1.0) and np.allclose(emotion.sum(1), 1.0)
    for sentiment, row, feeling in zip(three_way.score(texts), polarity, emotion, strict=True):
        assert sentiment.label == ("negative", "neutral", "positive")[int(np.argmax(row))]
        assert sentiment.negative_probability == pytest.approx(row[0])
        assert sentiment.score == pytest.approx(row[2] - row[0])
        assert list(sentiment.probabilities) == ["negative", "neutral", "positive"]
        assert sentiment.emotion is not None
        assert sentiment.emotion.label == EMOTIONS[int(np.argmax(feeling))]
        assert sentiment.emotion.probabilities["angry"] == pytest.approx(feeling[0])


def test_three_way_temperatures_soften_both_heads(tiny_three_way_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hot"
    shutil.copytree(tiny_three_way_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    write_manifest(folder, {**manifest, "temperature": 50.0, "emotion_temperature": 50.0})
    polarity, emotion = TransformerScorer.load(folder).probabilities(["物流太慢了"])
    assert emotion is not None
    assert np.all(np.abs(polarity - 1 / 3) < 0.05) and np.all(np.abs(emotion - 1 / 6) < 0.05)


def test_a_band_in_the_configuration_overrides_the_trained_label(tiny_three_way_dir: Path) -> None:
    texts = ["快递太慢了", "请问什么时候发货", "很满意"]
    everything_negative = TransformerScorer.load(
        tiny_three_way_dir, SentimentConfig(negative_above=0.0, positive_below=0.0)
    )
    assert [s.label for s in everything_negative.score(texts)] == ["negative"] * 3


def test_empty_text_is_neutral_without_emotion_evidence(three_way: TransformerScorer) -> None:
    (sentiment,) = three_way.score(["   "])
    assert sentiment.label == "neutral" and sentiment.negative_probability == 0.0
    assert sentiment.emotion is not None and sentiment.emotion.label == "neutral"


def test_long_texts_combine_emotion_logits_over_windows(three_way: TransformerScorer) -> None:
    text = _long_review(400)
    assert len(three_way.windows(text)) > 1
    _polarity, emotion = three_way.transformer_outputs([text])
    assert emotion is not None
    windows = three_way.windows(text)
    per_window = three_way._run(windows)
    assert np.all(emotion[0] >= per_window[:, 3:].min(0) - 1e-6) and np.all(
        emotion[0] <= per_window[:, 3:].max(0) + 1e-6
    )


def test_a_manifest_with_unknown_emotions_is_refused(tiny_three_way_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    shutil.copytree(tiny_three_way_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    write_manifest(folder, {**manifest, "emotions": ["joy", "anger"]})
    with pytest.raises(ModelError, match="emotions"):
        TransformerScorer.load(folder)


def test_a_three_way_manifest_on_a_binary_graph_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mismatch"
    shutil.copytree(tiny_model_dir, folder)
    write_manifest(folder, tiny_manifest(labels=["negative", "neutral", "positive"]))
    with pytest.raises(ModelError, match="expected \\[batch, 3\\]"):
        TransformerScorer.load(folder)


def test_binary_figures_read_a_three_way_model_among_opinions(three_way: TransformerScorer) -> None:
    texts = ["质量太差了，退货", "请问几点关门", "非常好吃"]
    polarity, _emotion = three_way.probabilities(texts)
    opinion = three_way.opinion_negative_probabilities(texts)
    assert opinion == pytest.approx(polarity[:, 0] / (polarity[:, 0] + polarity[:, 2]))
    assert [s.opinion_negative_probability for s in three_way.score(texts)] == pytest.approx(opinion)
