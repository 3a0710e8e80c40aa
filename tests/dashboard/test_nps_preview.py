"""趋势's NPS drop preview: the weeks the programme's 周环比下降 5 分 rule would flag, found from the
dashboard's maintained tallies, are the alerts the alert engine raises with that rule enabled over the
same answers; and the preview's rule is the one data/alerts.toml documents (commented out)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from api.dashboard.nps import PROGRAMME_RULE, drop_weeks, nps_cells
from api.dashboard.tallies import DayTally
from api.db import make_engine, migrate, session_factory
from api.tables import Batch
from nlp.alerts import AlertState, evaluate, load_rules, rules_from_dict
from nlp.heatmap import iso_week
from nlp.resources import data_path
from nlp.schema import Result, Sentiment

NOW = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
WEEK_1, WEEK_2 = "2026-10-05", "2026-10-12"
# Answers of a food-delivery survey, by what the customer would score.
TEXTS = {
    "promoter": ("送餐很准时，骑手小哥很有礼貌", Sentiment("positive", 0.8, 0.1, "labels")),
    "passive": ("还行吧，中规中矩", Sentiment("neutral", 0.0, 0.4, "labels")),
    "detractor": ("送餐太慢了，等了两个小时，饭都凉了", Sentiment("negative", -0.8, 0.9, "labels")),
}


def _week(product: str, day: str, promoters: int, passives: int, detractors: int) -> list[Result]:
    scores = [9 + i % 2 for i in range(promoters)] + [7 + i % 2 for i in range(passives)]
    scores += [i % 7 for i in range(detractors)]
    out = []
    for i, score in enumerate(scores):
        text, sentiment = TEXTS["promoter" if score >= 9 else "passive" if score >= 7 else "detractor"]
        meta = {"tier": "白银", "channel": "APP", "region": "华东", "product": product, "date": day, "nps": score}
        out.append(Result(id=f"{product}-{day}-{i}", kind="survey", text=text, sentiment=sentiment, meta=meta))
    return out


ANSWERS = [
    # 外卖: NPS 25.0 → -15.0 with 40 answers a week: a drop the rule raises.
    *_week("外卖", WEEK_1, 20, 10, 10),
    *_week("外卖", WEEK_2, 12, 10, 18),
    # 生鲜: 14.3 → 8.6 with 35 answers: 5.7 points lower, but within the noise of 35 answers.
    *_week("生鲜", WEEK_1, 15, 10, 10),
    *_week("生鲜", WEEK_2, 14, 10, 11),
    # 酒店: 60.0 → -40.0, but 20 answers a week: below the rule's 30.
    *_week("酒店", WEEK_1, 14, 4, 2),
    *_week("酒店", WEEK_2, 4, 4, 12),
]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'kesheng.db'}")
    migrate(engine)
    with session_factory(engine)() as opened, opened.begin():
        now = datetime.now(UTC)
        batch = Batch(sha256="0" * 64, filename="外卖回访.csv", status="done", created_at=now, updated_at=now)
        opened.add(batch)
        opened.flush()
        DayTally().update(ANSWERS).write(opened, batch.id)
        yield opened
    engine.dispose()


def test_the_preview_finds_what_the_engine_raises_with_the_rule_on(session: Session) -> None:
    rules = replace(load_rules(data_path("alerts.toml")), nps_drop=(PROGRAMME_RULE,))
    raised, _ = evaluate(ANSWERS, rules, AlertState(), NOW)
    engine = {(a.segment["product"], iso_week(a.window.start)) for a in raised if a.kind == "nps_drop"}
    preview = drop_weeks(nps_cells(session, "product", None, None), PROGRAMME_RULE, "product")
    assert engine == {("外卖", "2026-W42")}
    assert {(d["row"], d["week"]) for d in preview} == engine
    [drop] = preview
    assert (drop["previous_nps"], drop["nps"]) == (25.0, -15.0) and drop["p_value"] < 0.05


def test_the_tallies_split_each_weeks_answers_as_the_rule_counts_them(session: Session) -> None:
    cells = {
        (c.row, c.week): (c.promoters, c.passives, c.detractors) for c in nps_cells(session, "product", None, None)
    }
    assert cells == {
        ("外卖", "2026-W41"): (20, 10, 10),
        ("外卖", "2026-W42"): (12, 10, 18),
        ("生鲜", "2026-W41"): (15, 10, 10),
        ("生鲜", "2026-W42"): (14, 10, 11),
        ("酒店", "2026-W41"): (14, 4, 2),
        ("酒店", "2026-W42"): (4, 4, 12),
    }
    only_second = nps_cells(session, "product", WEEK_2, "2026-10-18")
    assert {c.week for c in only_second} == {"2026-W42"}


def test_the_preview_rule_is_the_one_the_rules_file_documents() -> None:
    text = data_path("alerts.toml").read_text(encoding="utf-8")
    block = text[text.index("# [[nps_drop]]") :].split("\n\n")[0]
    documented = rules_from_dict(tomllib.loads("\n".join(line.removeprefix("# ") for line in block.splitlines())))
    assert documented.nps_drop == (PROGRAMME_RULE,)
    assert load_rules(data_path("alerts.toml")).nps_drop == (), "off by default: the preview is what shows it"
