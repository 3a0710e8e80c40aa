"""The real servers of the scale-out tests: a throwaway PostgreSQL (scripts/postgres.sh) and Redis
(scripts/redis.sh) on 127.0.0.1, each installed from apt first when it is missing and we are root, and
`kesheng worker` processes started as an operator would start them (their own process groups, so a
test can SIGKILL one whole worker). Skipped only where the servers can be neither found nor installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text

from api.analysis import Analyzer
from api.db import make_engine
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = ROOT / "scripts" / "postgres.sh"
REDIS = ROOT / "scripts" / "redis.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", *args], capture_output=True, text=True, check=False, timeout=600)


def _pg_binaries() -> bool:
    folders = [Path(p) for p in Path("/usr/lib/postgresql").glob("*/bin")]
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        folders.append(Path(done.stdout.strip()))
    return any((f / "initdb").exists() and (f / "pg_ctl").exists() for f in folders)


@dataclass
class RedisServer:
    """A redis-server of scripts/redis.sh: its folder and port; stopped, killed and started again by tests."""

    folder: Path
    port: int
    databases: Iterator[int] = field(default_factory=lambda: iter(range(1, 16)))

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        done = _script(str(REDIS), "start", str(self.folder), str(self.port))
        assert done.returncode == 0, done.stderr

    def stop(self) -> None:
        _script(str(REDIS), "stop", str(self.folder))

    def kill(self) -> None:
        _script(str(REDIS), "kill", str(self.folder))

    def cli(self, db: int, *command: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "-n", str(db), *command],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway Redis on a free port (installed from apt first when missing and we are root)."""
    if importlib.util.find_spec("celery") is None:
        pytest.skip("celery is not installed (pip install -e .)")
    if shutil.which("redis-server") is None:
        installed = _script(str(REDIS), "install")
        if installed.returncode != 0 or shutil.which("redis-server") is None:
            pytest.skip(f"no redis-server and none could be installed: {installed.stderr[-300:]}")
    server = RedisServer(Path(tempfile.mkdtemp(prefix="kesheng-redis-")), free_port())
    server.start()
    yield server
    server.kill()
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """The URL of database `kesheng` on a throwaway PostgreSQL cluster (as tests/api/test_postgres.py)."""
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    if not _pg_binaries():
        installed = _script(str(POSTGRES), "install")
        if installed.returncode != 0 or not _pg_binaries():
            pytest.skip(f"no PostgreSQL server binaries and none could be installed: {installed.stderr[-300:]}")
    folder = tempfile.mkdtemp(prefix="kesheng-pg-")  # not tmp_path: as root the cluster runs as `postgres`
    try:
        started = _script(str(POSTGRES), "start", folder, str(free_port()))
        assert started.returncode == 0, started.stderr
        yield started.stdout.strip().splitlines()[-1]
    finally:
        _script(str(POSTGRES), "stop", folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def model_analyzer(tmp_path_factory: pytest.TempPathFactory) -> Analyzer:
    """The real default model with person-name redaction, as `kesheng worker` loads it."""
    return Analyzer(Settings(data_dir=tmp_path_factory.mktemp("model-home")))


def new_database(cluster: str) -> str:
    """A new, empty database on the cluster; its URL."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    admin = make_engine(cluster).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return cluster.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class WorkerProcess:
    """A `kesheng worker` started by a test: its process (the group leader), log file and node name."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def node(self) -> str:
        return f"kesheng-{self.process.pid}@{socket.gethostname()}"

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, model: bool = True, timeout: float = 180.0) -> None:
        """Until it consumes its queues and (`model`) its pool process has loaded the model."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.text()[-3000:]}")
            log = self.text()
            if " ready." in log and (not model or "kesheng.api.tasks: model " in log):
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker, its pool processes included, as a lost machine or container."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(env: dict[str, str], log: Path, queues: str = "batches,webhooks") -> WorkerProcess:
    """`kesheng worker --queues QUEUES` with `env`, in a process group of its own, logging to `log`."""
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "kesheng", "worker", "--queues", queues, "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    return WorkerProcess(process, log)


def base_environment() -> dict[str, str]:
    """This process's environment without any KESHENG_ variable (each test sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KESHENG_")}
