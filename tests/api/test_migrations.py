"""The shipped Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from api.db import make_engine, migrate
from api.tables import Base


def test_migrations_match_the_models_and_run_twice(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    migrate(engine)
    migrate(engine)  # already at head: nothing to do
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert {"api_keys", "batches", "batch_uploads", "items", "row_errors", "alerts"} <= set(
        inspect(engine).get_table_names()
    )
