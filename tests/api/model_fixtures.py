"""A service whose model follows a registry (hot swap), for the model, label and training-job tests.

The registry's built-in version is the committed default model (models/default): it
loads in well under a second, and against it any tiny random model is refused by the gate with
certainty. The gate's golden set and the validation thresholds are small, so a gate runs in
milliseconds.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.analysis import Analyzer
from api.app import create_app
from api.model_holder import ModelHolder, service_registry
from api.services import Services
from api.settings import Settings
from models import DEFAULT_MODEL_DIR
from nlp.sentiment.transformer import ModelManifest
from tests.api.conftest import Service
from tests.training.test_retrain import GOLDEN, write_tsv

BUILTIN = ModelManifest.read(DEFAULT_MODEL_DIR / "manifest.json").version
GATE_CONFIG = (
    '[gate]\nmargin_points = 1.0\nmetrics = ["accuracy"]\n[gate.golden]\nclear = "golden/golden.tsv"\n'
    '[validation]\nmin_rows = 10\nmin_label_share = 0.2\nduplicates = "error"\n'
)


def write_gate_config(folder: Path) -> Path:
    """registry.toml with one golden set of clear reviews (golden/golden.tsv beside it)."""
    write_tsv(folder / "golden" / "golden.tsv", GOLDEN)
    path = folder / "registry.toml"
    path.write_text(GATE_CONFIG, encoding="utf-8")
    return path


@contextmanager
def registry_service(data_dir: Path, analyzer: Analyzer, **overrides: Any) -> Iterator[Service]:
    """An app on its own database whose scorer follows the registry in ``data_dir/models``.

    The session's shared analyzer (redactor, tokenizer, themes: seconds to load) is copied with a
    registry-following model holder, which is what `create_app` builds when it loads its own."""
    settings = Settings(data_dir=data_dir, worker_poll_seconds=0.05, model_check_seconds=0.2, **overrides)
    following = copy.copy(analyzer)
    following.holder = ModelHolder.from_registry(
        service_registry(settings), threads=1, check_every=settings.model_check_seconds
    )
    with TestClient(create_app(settings, analyzer=following)) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        yield Service(client, services)


def sentiment_version(service: Service, headers: dict[str, str], text: str = "快递太慢了，客服也不理人") -> str:
    response = service.client.post("/v1/sentiment", json={"texts": [text]}, headers=headers)
    assert response.status_code == 200, response.text
    version: str = response.json()["model_version"]
    return version


def wait_job(service: Service, job_id: int, headers: dict[str, str], timeout: float = 300.0) -> dict[str, Any]:
    """Poll a training job until it is done or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = service.client.get(f"/v1/training-jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"training job {job_id} not finished after {timeout}s")
