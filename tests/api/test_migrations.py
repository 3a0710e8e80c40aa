"""The shipped Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from api import heatmap_db
from api.db import MIGRATIONS, make_engine, migrate, session_factory
from api.store import item_row, stored_results
from api.tables import Base
from nlp.heatmap import build_heatmap
from nlp.schema import Aspect, Result, Sentiment


def test_migrations_match_the_models_and_run_twice(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    migrate(engine)
    migrate(engine)  # already at head: nothing to do
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    tables = set(inspect(engine).get_table_names())
    assert {"api_keys", "batches", "items", "row_errors", "alerts"} <= tables
    assert "batch_uploads" not in tables, "raw uploads are staged encrypted outside the database (0009)"


def _at(engine: Engine, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_0005_counts_the_batches_done_before_it_again_in_aspect_mentions(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    _at(engine, "0004")
    taste = Aspect("味道不错", 0, 4, "味道", "不错", Sentiment("positive", 0.84, 0.08, "t"), theme="taste")
    late = Aspect("但是送餐太慢了", 5, 12, "送餐", "慢", Sentiment("negative", -0.86, 0.93, "t"), theme="logistics")
    mixed = Result("A01", "survey", "味道不错，但是送餐太慢了", late.sentiment, themes=("logistics", "taste"),
                   meta={"tier": "黄金", "date": "2026-11-03"}, aspects=(taste, late))  # fmt: skip
    row = item_row(0, 1, mixed)
    with engine.begin() as connection:  # a batch done under 0004, with its tally of the time (by top theme)
        connection.execute(
            text(
                "INSERT INTO batches (id, sha256, filename, columns, size, status, phase, total, processed, report,"
                " themes, labels, attempts, created_at, updated_at) VALUES (1, 'x', '外卖.csv', '{}', 0, 'done',"
                " 'done', 1, 1, '{}', '[]', '{}', 0, '2026-11-03 00:00:00', '2026-11-03 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO items (batch_id, row_index, item_id, kind, label, negative_probability, date, top_theme,"
                " result) VALUES (1, 0, 'A01', 'survey', 'negative', 0.93, '2026-11-03', 'logistics', :result)"
            ),
            {"result": json.dumps(row["result"], ensure_ascii=False)},
        )
        connection.execute(
            text(
                "INSERT INTO heatmap_cells (dimension, value, theme, span, items, negatives, score_sum)"
                " VALUES ('*', NULL, 'logistics', 'all', 1, 1, -0.86)"
            )
        )
    migrate(engine)
    with session_factory(engine)() as session:
        heatmap = heatmap_db.heatmap(session, "tier")
        assert heatmap.to_dict() == build_heatmap(*stored_results(session), "tier").to_dict()
        assert (heatmap.items, heatmap.mentions) == (1, 2)
        assert heatmap.cell("taste", "黄金").negatives == 0  # type: ignore[union-attr]
        assert heatmap.cell("logistics", "黄金").examples == ("但是送餐太慢了",)  # type: ignore[union-attr]

    _at(engine, "0004", down=True)  # back to the schema of 0004, its tables empty
    columns = {c["name"] for c in inspect(engine).get_columns("heatmap_cells")}
    assert "mentions" not in columns and "items" in columns
    assert "theme" in {c["name"] for c in inspect(engine).get_columns("heatmap_batch_days")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM heatmap_cells")).scalar() == 0
    engine.dispose()
