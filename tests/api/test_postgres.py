"""The service on PostgreSQL: migrations from scratch, uploads analysed end to end, duplicates found, and
the job table's claims and leases holding between workers that really run side by side.

A throwaway cluster is started with scripts/postgres.sh, which installs PostgreSQL from apt first when
it is missing and we are root (`make install` installs psycopg, the project's `postgres` extra). Skipped
only where neither can be had.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.analysis import Analyzer
from api.db import make_engine, migrate, session_factory
from api.settings import Settings
from api.staging import is_staged
from api.store import accept_upload
from api.tables import AlertRow, Base, Batch, Item
from api.worker import LeaseLost, Worker, recover
from nlp.errors import InputError
from tests.api.conftest import LEGAL_THREAT, SURVEY_ROWS, TRANSCRIPTS_JSONL, Service, survey_csv
from tests.api.test_labels import label_one_item_at_once
from tests.api.test_schema import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"
# The data folder of the services in these tests: staged uploads and the key that seals them.
DATA = Path(tempfile.mkdtemp(prefix="kesheng-pg-"))
ROWS = [
    (f"P{i:03d}", f"退款第{i}天还没到账，很失望", "黄金", "APP", "华东", "净水器", "2026-11-03", "2") for i in range(12)
]


def _server_binaries() -> bool:
    """Whether scripts/postgres.sh can find initdb and pg_ctl (pg_config's bindir or Debian's layout)."""
    folders = [Path(p) for p in Path("/usr/lib/postgresql").glob("*/bin")]
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        folders.append(Path(done.stdout.strip()))
    return any((f / "initdb").exists() and (f / "pg_ctl").exists() for f in folders)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The URL of database `kesheng` on a throwaway cluster (own folder under the temp dir, free port)."""
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    if not _server_binaries():
        # The project installs what its tests need (as root, from apt); elsewhere the test cannot run.
        installed = subprocess.run(["bash", str(SCRIPT), "install"], capture_output=True, text=True, check=False)
        if installed.returncode != 0 or not _server_binaries():
            pytest.skip(f"no PostgreSQL server binaries and none could be installed: {installed.stderr[-300:]}")
    # Not pytest's tmp_path: its parents are private to this user, and as root the cluster runs as `postgres`.
    folder = tempfile.mkdtemp(prefix="kesheng-pg-")
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", folder, str(free_port())], capture_output=True, text=True, check=False
        )
        assert started.returncode == 0, started.stderr
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", folder], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(cluster: str) -> Iterator[str]:
    """A new, empty database on the cluster for one test (dropped afterwards, connections or not)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(cluster).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield cluster.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def factory(pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def _upload(factory: sessionmaker[Session], content: bytes, name: str = "p.csv") -> int:
    accepted = accept_upload(
        factory, Settings(data_dir=DATA), content, name, kind=None, columns=None, max_rows=100, max_item_chars=1000
    )
    return accepted.batch.id


def _state(factory: sessionmaker[Session], batch_id: int) -> tuple[str, int, int, int]:
    with factory() as session:
        batch = session.get_one(Batch, batch_id)
        items = session.scalar(select(func.count()).select_from(Item).where(Item.batch_id == batch_id))
        distinct = session.scalar(select(func.count(func.distinct(Item.row_index))).where(Item.batch_id == batch_id))
        return batch.status, batch.processed, items or 0, distinct or 0


def test_migrations_build_the_model_schema_from_scratch(pg_url: str) -> None:
    engine: Engine = make_engine(pg_url.replace("postgresql+psycopg://", "postgresql://"))  # psycopg 3 either way
    assert engine.dialect.driver == "psycopg"
    migrate(engine)
    migrate(engine)  # already at head: nothing to do
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.execute(text("SHOW server_encoding")).scalar() == "UTF8"
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    tables = set(inspect(engine).get_table_names())
    assert {"api_keys", "batches", "items", "row_errors", "alerts", "audit_log", "batch_chunks"} <= tables
    assert "batch_uploads" not in tables, "raw uploads are staged encrypted outside the database (0009)"
    engine.dispose()


def test_the_service_analyses_uploads_on_postgresql(pg_url: str, make_service: Callable[..., Service]) -> None:
    service = make_service(db_url=pg_url)
    headers = service.key("analyst")
    assert service.client.get("/readyz").status_code == 200

    survey = service.client.post("/v1/batches", files={"file": ("回访.csv", survey_csv())}, headers=headers).json()
    calls = service.client.post("/v1/batches", files={"file": ("calls.jsonl", TRANSCRIPTS_JSONL)}, headers=headers)
    assert survey["duplicate"] is False and survey["total"] == 7 and calls.status_code == 202
    batch = service.wait(survey["id"], headers)
    assert batch["status"] == "done", batch["error"]
    assert batch["read"]["encoding"] in ("gb18030", "gbk")
    assert batch["counts"]["items"] == 7 and batch["counts"]["row_errors"] == 1
    (error,) = batch["errors"]
    assert (error["file"], error["row"], error["field"]) == ("回访.csv", 4, "text")
    assert batch["created_at"].endswith(("Z", "+00:00")), "datetimes come back as UTC"
    assert service.wait(calls.json()["id"], headers)["status"] == "done"

    page = service.client.get(f"/v1/batches/{survey['id']}/results?limit=3", headers=headers).json()
    assert [r["id"] for r in page["items"]] == ["S01", "S02", "S04"]
    assert "13912345678" not in page["items"][0]["text"] and "[手机号]" in page["items"][0]["text"]
    assert page["items"][0]["meta"]["tier"] == "钻石"
    jsonl = service.client.get(f"/v1/batches/{calls.json()['id']}/results?format=jsonl", headers=headers).text
    assert "漏水了" in jsonl and '"speaker": "customer"' in jsonl.replace('":"', '": "')

    heatmap = service.client.get("/v1/heatmap?dimension=tier", headers=headers).json()
    assert heatmap["items"] == 9 and sum(c["mentions"] for c in heatmap["cells"]) == heatmap["mentions"] >= 9
    assert heatmap["columns"] == ["钻石", "黄金", "白银", "基础"]
    window = service.client.get("/v1/heatmap?from=2026-11-04&to=2026-11-05", headers=headers).json()
    assert window["items"] == 3
    assert service.client.get("/v1/trend", headers=headers).json()["weeks"] == ["2026-W45"]

    # S04, a diamond customer's refund complaint, is a follow-up; S09 names 漏电, 律师 and 起诉: a severe alert.
    followups = {f["item_id"]: f for f in service.client.get("/v1/followups", headers=headers).json()["items"]}
    assert "S04" in followups and followups["S04"]["segment"]["tier"] == "钻石"
    legal = service.client.post(
        "/v1/batches", files={"file": ("legal.csv", survey_csv([LEGAL_THREAT]))}, headers=headers
    )
    assert service.wait(legal.json()["id"], headers)["status"] == "done"
    alerts = service.client.get("/v1/alerts?status=open", headers=headers).json()["items"]
    severe = {a["item_id"]: a for a in alerts if a["kind"] == "severe"}
    assert list(severe) == ["S09"] and severe["S09"]["segment"]["tier"] == "钻石"
    path = f"/v1/alerts/{severe['S09']['id']}"
    acknowledged = service.client.post(f"{path}/acknowledge", json={"note": "售后张经理跟进"}, headers=headers)
    assert acknowledged.json()["status"] == "acknowledged"
    assert service.client.post(f"{path}/acknowledge", headers=headers).status_code == 409

    again = service.client.post("/v1/batches", files={"file": ("副本.csv", survey_csv())}, headers=headers).json()
    assert again["duplicate"] is True and again["id"] == survey["id"]
    utf8 = service.client.post("/v1/batches", files={"file": ("u.csv", survey_csv(encoding="utf-8"))}, headers=headers)
    assert utf8.json()["duplicate"] is False, "other bytes, another batch"
    assert service.wait(utf8.json()["id"], headers)["status"] == "done"
    after = service.client.get("/v1/alerts", headers=headers).json()["items"]
    assert len({a["id"] for a in after}) == len(after), "the same conditions are not raised twice"
    assert service.client.get("/v1/heatmap?dimension=tier", headers=headers).json()["items"] == 17


def test_two_workers_never_claim_the_same_batch(factory: sessionmaker[Session], analyzer: Analyzer) -> None:
    settings = Settings(data_dir=DATA, lexicon=True, worker_chunk_size=4)
    batch_ids = [_upload(factory, survey_csv(ROWS[i : i + 3]), f"p{i}.csv") for i in range(0, 12, 3)]
    # Eight workers on their own connections race for four batches, as separate processes would.
    engines = [make_engine(factory.kw["bind"].url.render_as_string(hide_password=False)) for _ in range(8)]
    workers = [Worker(session_factory(engine), analyzer, settings) for engine in engines]
    start = threading.Barrier(len(workers))
    claimed: dict[str, int | None] = {}

    def claim(worker: Worker) -> None:
        start.wait()
        claimed[worker.name] = worker.claim()

    threads = [threading.Thread(target=claim, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    won = [b for b in claimed.values() if b is not None]
    assert sorted(won) == batch_ids, claimed
    with factory() as session:
        holders = dict(session.execute(select(Batch.id, Batch.worker).where(Batch.id.in_(batch_ids))).all())
    assert {holders[b] for b in won} == {name for name, b in claimed.items() if b is not None}
    for engine in engines:
        engine.dispose()


def test_leases_expire_and_a_stopped_worker_resumes(factory: sessionmaker[Session], analyzer: Analyzer) -> None:
    settings = Settings(data_dir=DATA, lexicon=True, worker_chunk_size=3)
    batch_id = _upload(factory, survey_csv(ROWS))
    holder, other = Worker(factory, analyzer, settings), Worker(factory, analyzer, settings)
    assert holder.claim() == batch_id
    assert other.claim() is None, "a live lease is left alone"
    with factory() as session, session.begin():
        session.get_one(Batch, batch_id).lease_until = datetime.now(UTC) - timedelta(seconds=1)
    assert other.claim() == batch_id, "an expired lease is taken over"
    with pytest.raises(LeaseLost):
        holder.process(batch_id)
    assert _state(factory, batch_id) == ("running", 0, 0, 0)

    seen: list[int] = []

    def stop_after_two_chunks(count: int) -> None:
        seen.append(count)
        if len(seen) == 2:
            other._stop.set()  # as if the process went away between chunks

    other.on_items = stop_after_two_chunks
    other.process(batch_id)
    assert _state(factory, batch_id) == ("running", 6, 6, 6)
    assert recover(factory) == 1
    assert Worker(factory, analyzer, settings).run_once()
    assert _state(factory, batch_id) == ("done", 12, 12, 12)
    with factory() as session:
        assert not is_staged(Settings(data_dir=DATA), batch_id), "the raw upload is not kept past the job"
        assert session.get_one(Batch, batch_id).finished_at is not None


def test_the_same_file_uploaded_at_once_is_stored_once(factory: sessionmaker[Session]) -> None:
    content = survey_csv(SURVEY_ROWS[:4])
    start = threading.Barrier(4)
    outcomes: list[tuple[int, bool]] = []

    def upload() -> None:
        start.wait()
        accepted = accept_upload(
            factory,
            Settings(data_dir=DATA),
            content,
            "同时.csv",
            kind=None,
            columns=None,
            max_rows=100,
            max_item_chars=99,
        )
        outcomes.append((accepted.batch.id, accepted.duplicate))

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 4 and len({batch_id for batch_id, _ in outcomes}) == 1
    assert sorted(duplicate for _, duplicate in outcomes) == [False, True, True, True]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 1


def test_values_postgresql_refuses_in_a_column_are_kept_in_the_result(
    factory: sessionmaker[Session], analyzer: Analyzer
) -> None:
    long_id = "回\\u0000访" + "长" * 300  # a JSON escape: a NUL in the id, 300+ characters
    line = (
        f'{{"id": "{long_id}", "turns": [{{"speaker": "客户", "text": "空调不制冷\\u0000，修了两次还是坏的"}}], '
        '"meta": {"tier": "钻石", "date": "2026-11-04"}}'
    )
    batch_id = _upload(factory, line.encode("utf-8"), "calls.jsonl")
    settings = Settings(data_dir=DATA, lexicon=True)
    assert Worker(factory, analyzer, settings).run_once()
    with factory() as session:
        assert session.get_one(Batch, batch_id).status == "done"
        item = session.scalars(select(Item).where(Item.batch_id == batch_id)).one()
    assert item.item_id == ("回访" + "长" * 300)[:255], "no NUL, and as long as the column"
    assert item.result["id"] == long_id.replace("\\u0000", "\x00"), "the whole id is in the result"
    assert item.label == "negative"
    with pytest.raises(InputError, match="NUL"):
        _upload(factory, survey_csv(), "回访\x00.csv")


def test_workers_finishing_together_raise_each_alert_once(factory: sessionmaker[Session], analyzer: Analyzer) -> None:
    # The same answers in two encodings: two batches whose severe item (S09) is the same condition.
    rows = [*SURVEY_ROWS, LEGAL_THREAT]
    batch_ids = [_upload(factory, survey_csv(rows, encoding=e), f"{e}.csv") for e in ("gbk", "utf-8")]
    settings = Settings(data_dir=DATA, lexicon=True, worker_chunk_size=100)
    engines = [make_engine(factory.kw["bind"].url.render_as_string(hide_password=False)) for _ in batch_ids]
    workers = [Worker(session_factory(engine), analyzer, settings) for engine in engines]
    together = threading.Barrier(len(workers))

    def meet(_count: int) -> None:
        together.wait(30)  # both batches scored: now both finish at once

    for worker in workers:
        worker.on_items = meet
    threads = [threading.Thread(target=worker.run_once) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with factory() as session:
        statuses = session.scalars(select(Batch.status).where(Batch.id.in_(batch_ids))).all()
        alerts = session.execute(select(AlertRow.id, AlertRow.seq, AlertRow.kind)).all()
    assert statuses == ["done", "done"]
    assert [kind for _, _, kind in alerts].count("severe") == 1, "S09 in both batches: one condition, one alert"
    assert len({seq for _, seq, _ in alerts}) == len(alerts), "one alert, one place in the list"
    for engine in engines:
        engine.dispose()


def test_analysts_labelling_one_item_at_once_take_turns(factory: sessionmaker[Session], analyzer: Analyzer) -> None:
    label_one_item_at_once(factory, analyzer)
