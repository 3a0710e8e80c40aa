"""Alembic environment: runs on the connection api.db.migrate passes in (no alembic.ini needed).

To write a new revision against a scratch database:
    .venv/bin/python -c "from alembic import command; from alembic.config import Config; \
c = Config(); c.set_main_option('script_location', 'api/migrations'); \
c.set_main_option('sqlalchemy.url', 'sqlite:////tmp/k.db'); command.revision(c, 'what', autogenerate=True)"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from api.tables import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, poolclass=pool.NullPool)
    with engine.connect() as own:
        context.configure(connection=own, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
