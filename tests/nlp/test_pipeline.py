"""The pipeline end to end on the bundled resources, and call aggregation as a table."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from nlp.config import CallAggregation, PipelineConfig, RedactionConfig, SentimentConfig
from nlp.normalize import normalize
from nlp.pipeline import Pipeline, aggregate_call, build_pipeline
from nlp.schema import EMOTIONS, Emotion, Item, Sentiment, Turn, result_from_dict
from nlp.sentiment import sentiment_from_probabilities


def _s(p: float) -> Sentiment:
    return Sentiment("neutral", 1 - 2 * p, p, "test")


@pytest.mark.parametrize(
    ("aggregation", "probabilities", "expected"),
    [
        ("mean", [0.2, 0.8, 0.5], 0.5),
        ("worst", [0.2, 0.8, 0.5], 0.8),
        ("mean_worst", [0.2, 0.8, 0.5], 0.65),
        ("mean", [], 0.5),
        # Half-life 2 turns: the turn before the last weighs 2**-0.5 of the last.
        ("recent", [0.9, 0.1], (0.9 * 2**-0.5 + 0.1) / (2**-0.5 + 1)),
        ("recent", [0.1, 0.9], (0.1 * 2**-0.5 + 0.9) / (2**-0.5 + 1)),
        ("recent", [0.3], 0.3),
    ],
)
def test_aggregate_call(aggregation: CallAggregation, probabilities: list[float], expected: float) -> None:
    config = SentimentConfig(call_aggregation=aggregation)
    call = aggregate_call([_s(p) for p in probabilities], "test", config)
    assert call.negative_probability == pytest.approx(expected)
    assert call.score == pytest.approx(1 - 2 * expected)


def test_unknown_aggregation_is_refused() -> None:
    with pytest.raises(ValueError, match="call_aggregation: must be one of mean"):
        SentimentConfig(call_aggregation="median")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(PipelineConfig(redaction=RedactionConfig(person_names=False)))


def test_polite_agent_does_not_make_an_angry_call_positive(pipeline: Pipeline) -> None:
    call = Item(
        id="c1",
        kind="transcript",
        text="",
        turns=(
            Turn("agent", "您好，非常感谢您的耐心，很高兴为您服务，祝您生活愉快"),
            Turn("customer", "快递太慢了，退款一直不到账，我要投诉"),
            Turn("agent", "非常抱歉给您带来不便，我们一定尽快帮您处理，谢谢您的理解和支持"),
            Turn("customer", "你们客服态度太差了，气死我了"),
        ),
        meta={"tier": "钻石"},
    )
    result = pipeline(call)
    assert [t.speaker for t in result.turns] == ["agent", "customer", "agent", "customer"]
    assert result.turns[0].sentiment.label == "positive"
    assert result.sentiment.label == "negative"
    assert result.emotion is not None
    assert result.meta == {"tier": "钻石"}


def test_survey_answer_is_redacted_scored_and_explained(pipeline: Pipeline) -> None:
    answer = Item(
        id="s1",
        kind="survey",
        text="净水器安装师傅很专业，非常满意！有问题打我电话13812345678，订单号202611021234567",
    )
    result = pipeline(answer)
    assert "13812345678" not in result.text
    assert "[手机号]" in result.text
    assert "202611021234567" in result.text
    assert result.redactions == {"phone": 1}
    assert result.sentiment.label == "positive"
    assert result.emotion is None
    assert any(cue.word in {"满意", "专业"} for cue in result.explanation)
    assert result.keywords


def test_pipe_keeps_input_order_across_batches(pipeline: Pipeline) -> None:
    texts = ["物流太慢了", "非常满意，下次还买", "客服不理人，差评", "包装完好，送货及时"]
    items = [Item(id=f"s{i}", kind="survey", text=t) for i, t in enumerate(texts * 3)]
    results = list(pipeline.pipe(items, batch_size=5))
    assert [r.id for r in results] == [i.id for i in items]
    assert [r.sentiment.label for r in results[:4]] == ["negative", "positive", "negative", "positive"]


# --- three-way calls: emotion per turn, trajectory, abnormal ---------------------------------------


class _Reader:
    """A three-way scorer with fixed readings per text (P(neg), P(neu), P(pos), emotion, its probability)."""

    version = "fixed-3"

    def __init__(self, readings: dict[str, tuple[float, float, float, str, float]]) -> None:
        self.readings = {normalize(text): reading for text, reading in readings.items()}  # texts arrive normalised

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        out = []
        for text in texts:
            neg, neu, pos, emotion, share = self.readings.get(text, (0.05, 0.9, 0.05, "neutral", 0.9))
            rest = (1 - share) / 5
            feeling = Emotion(emotion, {e: share if e == emotion else rest for e in EMOTIONS})  # type: ignore[arg-type]
            out.append(sentiment_from_probabilities((neg, neu, pos), self.version, SentimentConfig(), feeling))
        return out


def _call_pipeline(readings: dict[str, tuple[float, float, float, str, float]]) -> Pipeline:
    base = build_pipeline(PipelineConfig(redaction=RedactionConfig(person_names=False)))
    return Pipeline(
        redactor=base.redactor,
        tokenizer=base.tokenizer,
        scorer=_Reader(readings),
        explainer=base.explainer,
        config=base.config,
    )


def _call(*turns: tuple[str, str]) -> Item:
    return Item("c1", "transcript", "", turns=tuple(Turn(s, t) for s, t in turns))  # type: ignore[arg-type]


def test_a_call_that_calms_down_is_resolved_not_abnormal() -> None:
    pipeline = _call_pipeline(
        {
            "你们的快递太慢了气死我了": (0.92, 0.05, 0.03, "angry", 0.8),
            "好的，那我再等等，谢谢": (0.05, 0.8, 0.15, "neutral", 0.7),
        }
    )
    result = pipeline(
        _call(
            ("customer", "你们的快递太慢了气死我了"),
            ("agent", "非常抱歉，我马上帮您催一下"),
            ("customer", "好的，那我再等等，谢谢"),
        )
    )
    assert result.call is not None
    assert (result.call.start, result.call.end) == ("angry", "neutral")
    assert result.call.trajectory == "情绪由怒转平"
    assert not result.call.abnormal and result.call.reasons == ()
    assert [t.emotion.label for t in result.turns if t.emotion] == ["angry", "neutral", "neutral"]
    out = result.to_dict()
    assert out["call"]["trajectory"] == "情绪由怒转平" and out["turns"][0]["emotion_name"] == "愤怒"


def test_a_call_that_turns_angry_after_the_reply_is_abnormal_with_its_reasons() -> None:
    pipeline = _call_pipeline(
        {
            "请问我的订单什么时候发货": (0.1, 0.85, 0.05, "neutral", 0.8),
            "又要等三天？你们这是什么服务，我要投诉": (0.95, 0.03, 0.02, "angry", 0.85),
        }
    )
    result = pipeline(
        _call(
            ("customer", "请问我的订单什么时候发货"),
            ("agent", "您好，仓库显示还需要三天"),
            ("customer", "又要等三天？你们这是什么服务，我要投诉"),
        )
    )
    assert result.call is not None and result.call.abnormal
    assert result.call.trajectory == "情绪由平转怒"
    assert result.call.reasons == ("ends_angry", "escalated", "negative_after_reply")
    assert next(r["text"] for r in result.to_dict()["call"]["reasons"]) == "客户以愤怒结束通话"
    # The call's own reading is its customer's last turn by default (bench/call_aggregation.py).
    assert result.sentiment.probabilities["negative"] == pytest.approx(0.95)
    assert result.emotion is not None and result.emotion.label in EMOTIONS


def test_a_call_result_survives_its_json_form() -> None:
    pipeline = _call_pipeline({"太失望了，再也不买了": (0.9, 0.05, 0.05, "sad", 0.7)})
    result = pipeline(_call(("agent", "您好，这里是回访"), ("customer", "太失望了，再也不买了")))
    back = result_from_dict(result.to_dict())
    assert back.call == result.call
    for before, after in ((result.emotion, back.emotion), (result.turns[1].emotion, back.turns[1].emotion)):
        assert before is not None and after is not None and before.label == after.label
        assert after.probabilities == pytest.approx(before.probabilities, abs=1e-4)
    assert back.sentiment.probabilities == pytest.approx(result.sentiment.probabilities, abs=1e-4)


def test_results_stored_with_the_lexicon_s_chinese_emotions_still_read() -> None:
    stored = {"id": "a", "kind": "survey", "text": "气死了", "sentiment": _s(0.9).to_dict(), "emotion": "厌恶"}
    assert result_from_dict(stored).emotion == Emotion("angry")


def test_without_a_model_emotion_negative_text_gets_the_lexicon_s_class() -> None:
    pipeline = build_pipeline(PipelineConfig(redaction=RedactionConfig(person_names=False)))
    result = pipeline(Item("s1", "survey", "等了一个小时还没送到，什么时候能到啊，太让人着急了"))
    assert result.sentiment.label == "negative"
    assert result.emotion is not None and result.emotion.label in {"fear", "angry", "sad"}
    assert result.emotion.probabilities == {}
