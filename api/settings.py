"""kesheng.toml as a whole, and the service's section of it (``[service]``).

Every limit, window and switch of the HTTP service lives in ``Settings`` with a default that suits
one ordinary machine. ``load_config`` reads the file (``--config``, else ``$KESHENG_CONFIG``, else
``./kesheng.toml`` when there is one) through nlp.settings, then each ``KESHENG_<FIELD>`` variable
overrides its service setting; `kesheng serve` options override both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from models.home import data_home
from nlp.config import AnalysisConfig
from nlp.errors import ConfigError
from nlp.readers.limits import MAX_ITEM_CHARS, SIZE_LIMITS, SizeLimits
from nlp.settings import load, setting, with_environment

CONFIG_FILE = "kesheng.toml"
ENV_PREFIX = "KESHENG_"
# The setting behind each of the readers' size limits, to name in a refusal.
SIZE_SETTINGS = {"max_items": "max_rows", "max_cells": "max_cells", "max_unzipped_bytes": "max_unzipped_bytes"}


def variable(field: str) -> str:
    """The environment variable of a Settings field: max_rows → KESHENG_MAX_ROWS."""
    return f"{ENV_PREFIX}{field.upper()}"


@dataclass(frozen=True)
class Settings:
    """Settings of `kesheng serve` (``[service]``); ``KESHENG_<FIELD>`` overrides each (e.g. KESHENG_DB_URL)."""

    # --- where things are ---------------------------------------------------------------------
    # Empty: the data home (models.home.data_home: $KESHENG_HOME, else ~/.local/share/kesheng).
    data_dir: Path = setting(factory=data_home)
    # Empty: SQLite (WAL) at data_dir/kesheng.db. PostgreSQL: postgresql+psycopg://user:pass@host/db.
    db_url: str = setting("", empty=True)
    # Empty: the registry's active version, followed without a restart; a folder pins that model;
    # lexicon=True scores with the lexicon instead.
    model_dir: Path | None = None
    lexicon: bool = False
    # Alert rules (TOML); empty: kesheng.toml's [alerts], else the bundled data/alerts.toml.
    rules_path: Path | None = None
    # The demand taxonomy (TOML, as data/themes.toml); empty: kesheng.toml's themes.taxonomy, else the bundled one.
    themes_path: Path | None = None
    # Alerts go to the rules' [webhook] url (secret from its secret_env variable) after each batch and
    # at this interval, so failed pushes are retried.
    webhook_interval_seconds: float = setting(60.0, low=0, open_low=True, high=86_400)
    # Person-name redaction needs the NER model; off only where names cannot occur (tests, benchmarks).
    redact_names: bool = True
    # Encryption at rest (api.crypto) of the identifiers kept for call-backs and of staged uploads:
    # keys from KESHENG_SECRET_KEY, else from key_file (empty: data_dir/secret.key, made on first use).
    secret_key: str = setting("", empty=True)
    key_file: Path | None = None
    # Roles that may reveal an item's encrypted identifiers (POST /v1/items/{id}/reveal); each reveal is audited.
    reveal_roles: tuple[str, ...] = setting(("admin",), allowed=("admin", "analyst"))

    # --- the model registry and retraining ---------------------------------------------------------
    # Without model_dir/lexicon the service serves the registry's active version and follows
    # promotions and rollbacks (by the API, the CLI or another process) without a restart.
    # Empty: data_dir/models, which is $KESHENG_HOME/models as the CLI's registry (models.registry).
    registry_dir: Path | None = None
    # The promotion gate and validation thresholds; empty: $KESHENG_REGISTRY_CONFIG or the shipped one.
    registry_config: Path | None = None
    # How often a request may re-read the registry's active pointer (one small file) to notice a change.
    model_check_seconds: float = setting(1.0, low=0.0)
    # Run POST /v1/training-jobs in this process (one at a time, in its own thread).
    training: bool = True
    # The recipe of training jobs and the folder its relative paths start from. Empty: the packaged
    # recipe (training/configs/sentiment.toml) and the data directory, so a wheel install retrains too.
    training_config: Path | None = None
    training_root: Path | None = None

    # --- network -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = setting(8000, low=1, high=65535)

    # --- real-time scoring -----------------------------------------------------------------------
    # Requests that arrive while the model is busy are scored together in the next call (up to
    # batch_max_items texts). batch_window_ms > 0 also holds a lone request that long for company:
    # 0 by default, since waiting only adds latency when nobody else is waiting.
    batch_max_items: int = setting(64, low=1)
    batch_window_ms: float = setting(0.0, low=0.0, high=100.0)
    # onnxruntime threads of the sentiment model. One: the real-time batcher and the batch worker each
    # run the model in their own thread, so two cores are used anyway, and a single-threaded run does not
    # spin-wait for a second core that is busy. Measured on the 2-core target while another job ran:
    # one short text 5.9 ms (1 thread) against 16.3 ms (2), 800 survey answers 133 texts/s against 76.
    model_threads: int = setting(1, low=1)
    # Per-key limit of POST /v1/sentiment (api.ratelimit): a token bucket per API key that refills at
    # rate_limit_per_second requests per second and holds up to rate_limit_burst; over it: 429 with
    # Retry-After. 0: no limit (the default). Counted in this process: with several API processes a
    # key may send up to the rate in each (KESHENG_RATE_LIMIT_PER_SECOND, KESHENG_RATE_LIMIT_BURST).
    rate_limit_per_second: float = setting(0.0, low=0.0, high=1_000_000.0)
    rate_limit_burst: int = setting(20, low=1, high=1_000_000)

    # --- request bodies and uploads ---------------------------------------------------------------
    # Every body but an upload's (JSON, forms): the largest valid POST /v1/sentiment, 200 turns of
    # 2,000 characters each written as \uXXXX escapes, is 2.4 MB. Over it: 413 before parsing.
    max_body_bytes: int = setting(4 * 1024 * 1024, low=1024, high=1024**3)
    max_upload_bytes: int = setting(20 * 1024 * 1024, low=1, high=1024**3)
    # Items of one upload, checked while it is read (a bigger file is refused at the row past it).
    max_rows: int = setting(50_000, low=1)
    # Cells of an uploaded CSV or sheet, blank ones included: a 50,000-row export of 100 columns.
    max_cells: int = setting(5_000_000, low=1)
    # What an uploaded workbook's parts inflate to, together; a part inflating more than 100-fold
    # is refused as a compression bomb whatever its size (nlp.readers.limits).
    max_unzipped_bytes: int = setting(256 * 1024 * 1024, low=1)
    # A longer item (a whole call, a survey answer) is reported as a bad row, not analysed. At most
    # the readers' own limit, which the batch worker reads every upload with again.
    max_item_chars: int = setting(MAX_ITEM_CHARS, low=1, high=MAX_ITEM_CHARS)

    # --- the batch worker ------------------------------------------------------------------------
    worker: bool = True
    # Items analysed and committed together: a kill loses at most this much work, never rows.
    worker_chunk_size: int = setting(32, low=1)
    worker_poll_seconds: float = setting(0.5, low=0.0, open_low=True)
    # A claimed batch is held this long without progress before another worker may take it over.
    worker_lease_seconds: float = setting(120.0, low=0.0, open_low=True)
    # With one service per database (the default), batches left running by a killed process are taken
    # back at start-up at once instead of after the lease; turn off when several services share a DB.
    worker_recover_on_start: bool = True
    # Heatmap dimension used when the request does not name one.
    default_dimension: str = "tier"

    # --- scale-out: Celery workers over Redis (`kesheng worker`, api.distributed) -----------------------
    # Empty: batches, training jobs and webhook pushes run in this process, as above. redis://host:6379/0:
    # the service hands them to `kesheng worker` processes through Celery (the in-process worker is not
    # started); the store must then be PostgreSQL, and the API and the workers share data_dir and the key.
    broker_url: str = setting("", empty=True)
    # A task a worker took but did not acknowledge (it was lost) is given to another worker after this
    # long. Longer than the slowest chunk and batch completion: a task still running then is run a second
    # time, which changes nothing but costs the work.
    broker_visibility_timeout: float = setting(600.0, low=1.0, high=86_400)
    # A batch with no progress this long while the queue of batches is empty is dispatched again (its
    # tasks were lost with a broker's data); more than broker_visibility_timeout.
    broker_redispatch_seconds: float = setting(1800.0, low=1.0, high=86_400)
    # Deliveries of one chunk's task (or of a batch's completion) before the batch fails with its error;
    # the n-th retry waits task_retry_seconds * 2**(n - 1).
    task_max_attempts: int = setting(3, low=1, high=100)
    task_retry_seconds: float = setting(2.0, low=0.0, high=3600.0)

    def upload_limits(self) -> SizeLimits:
        """What one upload may hold, checked while it is read (nlp.readers.limits)."""
        return replace(
            SIZE_LIMITS, max_items=self.max_rows, max_cells=self.max_cells, max_unzipped_bytes=self.max_unzipped_bytes
        )

    def registry_root(self) -> Path:
        """The model registry's folder: registry_dir, or `models` in the data directory."""
        return self.registry_dir or self.data_dir / "models"

    def key_path(self) -> Path:
        """The key file: key_file, or secret.key in the data directory."""
        return self.key_file or self.data_dir / "secret.key"

    def database_url(self) -> str:
        """The SQLAlchemy URL: db_url, or SQLite in the data directory."""
        return self.db_url or f"sqlite:///{self.data_dir / 'kesheng.db'}"

    def check_deployment(self) -> None:
        """With a broker (Celery workers), a ConfigError unless the store is PostgreSQL: SQLite is one
        file on one machine and cannot be shared by an API and workers in other processes or machines."""
        if not self.broker_url:
            return
        if not self.broker_url.startswith(("redis://", "rediss://")):
            raise ConfigError(
                f"{variable('broker_url')}: expected redis://host:port/db, got {self.broker_url.split('://')[0]}://…"
            )
        if not self.db_url or self.db_url.startswith("sqlite"):
            raise ConfigError(
                f"{variable('broker_url')} is set but the database is SQLite ({self.database_url()}): Celery "
                f"workers need PostgreSQL; set {variable('db_url')}=postgresql+psycopg://user@host/db"
            )


@dataclass(frozen=True)
class KeshengConfig(AnalysisConfig):
    """The whole of kesheng.toml: the analysis sections (nlp.config.AnalysisConfig) and ``[service]``."""

    service: Settings = field(default_factory=Settings)


def config_path(given: Path | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file to read: `given`, else $KESHENG_CONFIG, else ./kesheng.toml if present."""
    environ = os.environ if environ is None else environ
    if given is not None:
        return given
    if environ.get(f"{ENV_PREFIX}CONFIG"):
        return Path(environ[f"{ENV_PREFIX}CONFIG"]).expanduser()
    local = Path(CONFIG_FILE)
    return local if local.is_file() else None


def load_config(given: Path | None = None, environ: Mapping[str, str] | None = None) -> KeshengConfig:
    """kesheng.toml (see `config_path`) with the KESHENG_* variables over its [service] section.

    An unknown or ill-typed key or variable is a ConfigError naming the file (or variable) and key.
    """
    environ = os.environ if environ is None else environ
    path = config_path(given, environ)
    config = load(KeshengConfig, path) if path is not None else KeshengConfig()
    return replace(config, service=with_environment(config.service, environ, ENV_PREFIX))
