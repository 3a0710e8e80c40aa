"""The pipeline end to end on the bundled resources, and call aggregation as a table."""

from __future__ import annotations

import pytest

from nlp.config import CallAggregation, PipelineConfig, RedactionConfig, SentimentConfig
from nlp.pipeline import Pipeline, aggregate_call, build_pipeline
from nlp.schema import Item, Sentiment, Turn


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
