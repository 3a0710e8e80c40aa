"""kesheng.toml for the service: file, environment and options in that order; the user's taxonomy and
discovered theme ids that stay the same from one batch to the next."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from api.analysis import Analyzer
from api.db import make_engine, migrate, session_factory
from api.settings import KeshengConfig, Settings, load_config
from api.store import accept_upload
from api.tables import Batch, Item
from api.worker import Worker
from nlp.errors import ConfigError
from nlp.resources import data_path
from tests.api.conftest import survey_csv


def test_the_file_then_the_environment_set_the_service(tmp_path: Path) -> None:
    path = tmp_path / "kesheng.toml"
    path.write_text('[service]\nport = 9100\nmax_rows = 500\ndata_dir = "svc"\n[themes]\nmin_df = 2\n', "utf-8")
    config = load_config(path, environ={"KESHENG_MAX_ROWS": "800"})
    assert isinstance(config, KeshengConfig)
    assert (config.service.port, config.service.max_rows) == (9100, 800)
    assert config.service.data_dir == tmp_path / "svc" and config.themes.min_df == 2
    # $KESHENG_CONFIG names the file when no option does; without either, defaults.
    assert load_config(environ={"KESHENG_CONFIG": str(path)}).service.port == 9100
    assert load_config(environ={}).service == Settings(data_dir=load_config(environ={}).service.data_dir)


@pytest.mark.parametrize(
    ("body", "environ", "message"),
    [
        ("[service]\nprot = 9100\n", {}, "kesheng.toml: service.prot = 9100: is not a known setting"),
        ("[service]\nport = 70000\n", {}, "kesheng.toml: service.port = 70000: must be in [1, 65535]"),
        ("[servce]\n", {}, "kesheng.toml: servce = {}: is not a known setting"),
        ("", {"KESHENG_WORKER": "sometimes"}, "environment: KESHENG_WORKER = 'sometimes': must be true or false"),
    ],
)
def test_a_bad_setting_names_its_file_or_variable(
    tmp_path: Path, body: str, environ: dict[str, str], message: str
) -> None:
    path = tmp_path / "kesheng.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    assert message in str(caught.value)


REVIEWS = [
    (f"R{i:03d}", text, "黄金", "美团", "华东", "火锅", "2026-11-03", "6")
    for i, text in enumerate(
        ["排队等位一个小时，上菜也慢", "服务员态度很差，叫了几次没人理", "分量太少了吃不饱", "味道很好，很新鲜"] * 6
        # Demands the restaurant taxonomy has no theme for: they form discovered themes.
        + [f"会员积分兑换不了，积分{n}分白攒了" for n in range(12)]
        + [f"小程序点单总是闪退，第{n}次了" for n in range(12)]
    )
]


def test_the_service_uses_the_users_taxonomy_and_keeps_discovered_ids(tmp_path: Path) -> None:
    taxonomy = data_path("examples", "restaurant_themes.toml")
    settings = Settings(data_dir=tmp_path, lexicon=True, redact_names=False, themes_path=taxonomy)
    analyzer = Analyzer(settings)
    assert [t.id for t in analyzer.taxonomy.themes][:3] == ["taste", "portion", "waiting"]
    engine = make_engine(settings.database_url())
    migrate(engine)
    factory = session_factory(engine)
    worker = Worker(factory, analyzer, settings)
    for name in ("week1.csv", "week2.csv"):
        rows = [(f"{name}-{r[0]}", *r[1:]) for r in REVIEWS]
        accept_upload(
            factory, settings, survey_csv(rows), name, kind=None, columns=None, max_rows=1000, max_item_chars=1000
        )
        assert worker.run_once()
    with factory() as session:
        batches = session.scalars(select(Batch).order_by(Batch.id)).all()
        assert [b.status for b in batches] == ["done", "done"]
        tops = set(session.scalars(select(Item.top_theme)).all())
    assert {"waiting", "staff", "portion", "taste"} <= tops
    assert {"logistics", "after_sales", "service"}.isdisjoint(tops)  # no retail theme in a restaurant's data
    first, second = ({t["id"]: t["label"] for t in b.themes if t["discovered"]} for b in batches)
    assert first and all(theme_id.startswith("D") for theme_id in first)
    assert first == second  # the same demands again: the same ids and labels, not b2-D01
