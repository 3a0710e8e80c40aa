"""Starting a scaled-out deployment: processes that migrate at once run the migrations once, a broker
with SQLite is refused in one line, and API processes racing for a queued batch send it once."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import inspect, update
from typer.testing import CliRunner

from api.app import create_app
from api.db import MIGRATIONS, make_engine, migrate, session_factory
from api.distributed.celery_app import BATCHES, Broker
from api.distributed.dispatcher import Dispatcher
from api.settings import Settings
from api.store import accept_upload
from api.tables import Batch
from kesheng.cli import app
from nlp.errors import ConfigError
from tests.api.conftest import SURVEY_ROWS, survey_csv
from tests.scale.conftest import ROOT, RedisServer, new_database

MIGRATE_WHEN = """
import sys, time
from pathlib import Path
from api.db import make_engine, migrate
engine = make_engine(sys.argv[2])
engine.connect().close()
print("ready", flush=True)
while not Path(sys.argv[1]).exists():
    time.sleep(0.005)
print(*migrate(engine))
"""


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_processes_starting_together_run_the_migrations_once(pg_cluster: str, tmp_path: Path) -> None:
    url, go = new_database(pg_cluster), tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_WHEN, str(go), url], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for process in processes:  # each imported and connected: then all migrate at the same moment
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
    go.touch()
    outcomes = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err.decode()[-500:] for _, err in outcomes]
    revisions = sorted(out.decode().split()[-2:] for out, _ in outcomes)
    head = _head()
    assert revisions == [[head, head]] * 3 + [["None", head]], "one process migrated, three found it done"
    engine = make_engine(url)
    assert "batch_chunks" in inspect(engine).get_table_names()
    engine.dispose()


def test_a_broker_with_sqlite_is_refused_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"KESHENG_BROKER_URL": "redis://127.0.0.1:6379/0", "KESHENG_DATA_DIR": str(tmp_path), "KESHENG_DB_URL": ""}
    for command in (["worker"], ["serve", "--no-worker"]):
        done = runner.invoke(app, command, env=env)
        assert done.exit_code == 2, done.output
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("error: KESHENG_BROKER_URL is set but the database is SQLite"), line
        assert "KESHENG_DB_URL=postgresql" in line
    done = runner.invoke(app, ["worker"], env={"KESHENG_BROKER_URL": "", "KESHENG_DATA_DIR": str(tmp_path)})
    assert done.exit_code == 2 and "kesheng worker needs a broker" in done.stderr
    assert not (tmp_path / "kesheng.db").exists(), "refused before anything was written"
    settings = Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigError, match="need PostgreSQL"), TestClient(create_app(settings)):
        pass  # the service refuses at start-up too, before it loads anything


def test_api_processes_racing_for_a_queued_batch_send_it_once(
    pg_cluster: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    db = next(redis_server.databases)
    settings = Settings(
        data_dir=tmp_path,
        db_url=new_database(pg_cluster),
        broker_url=redis_server.url(db),
        broker_redispatch_seconds=600,
    )
    engines = [make_engine(settings.db_url) for _ in range(4)]
    migrate(engines[0])
    factory = session_factory(engines[0])
    batch_id = accept_upload(factory, settings, survey_csv(SURVEY_ROWS), "同时.csv", kind=None, columns=None).batch.id
    # No worker consumes this Redis database: what was sent stays in the queue, to be counted.
    dispatchers = [Dispatcher(session_factory(e), Broker(settings), settings) for e in engines]
    together = threading.Barrier(len(dispatchers))
    sent: list[int] = []

    def dispatch(dispatcher: Dispatcher) -> None:
        together.wait(30)
        sent.append(dispatcher.dispatch_batches())

    threads = [threading.Thread(target=dispatch, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(sent) == [0, 0, 0, 1]
    assert redis_server.cli(db, "LLEN", BATCHES) == "1"
    assert dispatchers[0].broker.waiting(BATCHES) == 1
    assert dispatchers[1].dispatch_batches() == 0, "sent within broker_redispatch_seconds: not again"

    # Not planned within broker_redispatch_seconds (its message was lost): sent again.
    with factory() as session, session.begin():
        session.execute(update(Batch).where(Batch.id == batch_id).values(lease_until=None))
    assert dispatchers[2].dispatch_batches() == 1
    assert redis_server.cli(db, "LLEN", BATCHES) == "2"
    for dispatcher in dispatchers:
        dispatcher.broker.close()
    for engine in engines:
        engine.dispose()
