"""GET /v1/models, POST /v1/models/{version}/promote and /v1/models/rollback: the gate's refusal with
its numbers, a forced promotion the running service answers with at once (no restart), requests in
flight that never fail during a swap, rollback, and who may do what."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.analysis import Analyzer
from api.model_holder import service_registry
from nlp.schema import Item
from tests.api.conftest import Service
from tests.api.model_fixtures import BUILTIN, registry_service, sentiment_version, write_gate_config

CANDIDATE = "tiny-field-1"


@pytest.fixture
def service(tmp_path: Path, analyzer: Analyzer, tiny_model_dir: Path) -> Iterator[Service]:
    """A registry-following service whose registry holds the built-in model and a tiny random one."""
    config = write_gate_config(tmp_path / "config")
    with registry_service(tmp_path / "data", analyzer, registry_config=config) as running:
        service_registry(running.services.settings).register(tiny_model_dir, version=CANDIDATE, parent=BUILTIN)
        yield running


def test_models_are_listed_with_the_active_and_the_served_version(service: Service) -> None:
    body = service.client.get("/v1/models", headers=service.key("analyst")).json()
    assert body["active"] == BUILTIN and body["generation"] == 0
    assert body["serving"] == {"model_version": BUILTIN, "follows_registry": True, "last_error": None}
    versions = {v["version"]: v for v in body["versions"]}
    assert list(versions) == [BUILTIN, CANDIDATE]
    assert versions[BUILTIN]["active"] and versions[BUILTIN]["builtin"]
    assert not versions[CANDIDATE]["active"] and versions[CANDIDATE]["parent_version"] == BUILTIN
    assert "path" not in versions[CANDIDATE]  # server paths are not for clients


def test_gate_refuses_then_force_promotes_and_rollback_returns(service: Service) -> None:
    admin, caller = service.key("admin"), service.key("service")
    assert sentiment_version(service, caller) == BUILTIN

    refused = service.client.post(f"/v1/models/{CANDIDATE}/promote", json={}, headers=admin)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["detail"].startswith(f"refused: {CANDIDATE} is worse than {BUILTIN}")
    (delta,) = problem["comparison"]["deltas"]
    assert delta["golden_set"] == "clear" and delta["metric"] == "accuracy" and delta["n"] == 12
    assert delta["baseline"] > 0.9 and delta["delta_points"] < -1.0 and not delta["within_margin"]
    assert problem["comparison"]["passed"] is False
    assert sentiment_version(service, caller) == BUILTIN  # a refusal changes nothing

    forced = service.client.post(f"/v1/models/{CANDIDATE}/promote", json={"force": True}, headers=admin)
    assert forced.status_code == 200, forced.text
    body = forced.json()
    assert body["promoted"] and body["forced"] and body["previous"] == BUILTIN
    assert body["comparison"]["deltas"][0]["delta_points"] == delta["delta_points"]
    assert body["serving"]["model_version"] == CANDIDATE
    # The very next request is scored by the new version: no restart, no wait for the periodic check.
    assert sentiment_version(service, caller) == CANDIDATE
    listed = service.client.get("/v1/models", headers=admin).json()
    assert listed["active"] == CANDIDATE and listed["generation"] == 1
    metrics = service.client.get("/metrics").text
    assert f'kesheng_model_info{{version="{CANDIDATE}"}} 1.0' in metrics and BUILTIN not in metrics

    again = service.client.post(f"/v1/models/{CANDIDATE}/promote", headers=admin)
    assert again.status_code == 200 and not again.json()["promoted"]
    assert again.json()["reason"] == f"{CANDIDATE} is already the active version"

    rolled = service.client.post("/v1/models/rollback", headers=admin)
    assert rolled.status_code == 200, rolled.text
    assert rolled.json() | {"serving": None} == {
        "version": BUILTIN,
        "previous": CANDIDATE,
        "generation": 2,
        "serving": None,
    }
    assert sentiment_version(service, caller) == BUILTIN
    nothing = service.client.post("/v1/models/rollback", headers=admin)
    assert nothing.status_code == 409 and "no previous version" in nothing.json()["detail"]


def test_a_promotion_by_another_process_is_picked_up_without_a_restart(service: Service) -> None:
    caller = service.key("service")
    assert sentiment_version(service, caller) == BUILTIN
    # As `kesheng models promote --force` would, from outside the service.
    service_registry(service.services.settings).promote(CANDIDATE, force=True, actor="cli")
    versions: list[str] = []
    for _ in range(40):  # model_check_seconds is 0.2 in these tests
        versions.append(sentiment_version(service, caller))
        if versions[-1] == CANDIDATE:
            break
        threading.Event().wait(0.05)
    assert versions[-1] == CANDIDATE and set(versions) <= {BUILTIN, CANDIDATE}


def test_a_version_that_cannot_be_loaded_leaves_the_old_one_serving(service: Service) -> None:
    admin, caller = service.key("admin"), service.key("service")
    # Scored on the golden sets (and refused) while intact; its weights are damaged afterwards.
    assert service.client.post(f"/v1/models/{CANDIDATE}/promote", json={}, headers=admin).status_code == 409
    registry = service_registry(service.services.settings)
    (registry.get(CANDIDATE).path / "model.onnx").write_bytes(b"not an onnx graph")
    forced = service.client.post(f"/v1/models/{CANDIDATE}/promote", json={"force": True}, headers=admin)
    assert forced.status_code == 200 and forced.json()["serving"]["model_version"] == BUILTIN
    assert sentiment_version(service, caller) == BUILTIN
    ready = service.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_version"] == BUILTIN, ready.text
    assert (
        "cannot load the active version" in ready.json()["model_error"] and "model.onnx" in ready.json()["model_error"]
    )
    assert (
        service.client.get("/v1/models", headers=admin).json()["serving"]["last_error"] == ready.json()["model_error"]
    )
    # Rolling back to the version that serves clears the error.
    assert service.client.post("/v1/models/rollback", headers=admin).status_code == 200
    assert service.client.get("/readyz").json()["model_error"] is None


def test_a_call_in_flight_finishes_with_the_model_it_started_with(service: Service) -> None:
    analyzer = service.services.analyzer
    started = analyzer.pipeline()  # a call that has taken its scorer but not yet scored
    forced = service.client.post(f"/v1/models/{CANDIDATE}/promote", json={"force": True}, headers=service.key("admin"))
    assert forced.status_code == 200
    item = Item(id="q1", kind="survey", text="退款三天还没到账，太失望了")
    (old,) = started.pipe([item])
    (new,) = analyzer.analyse([item])
    assert (old.sentiment.model_version, new.sentiment.model_version) == (BUILTIN, CANDIDATE)


def test_requests_during_promotion_and_rollback_never_fail(service: Service) -> None:
    admin, caller = service.key("admin"), service.key("service")
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def keep_scoring() -> None:
        while not stop.is_set():
            response = service.client.post("/v1/sentiment", json={"texts": ["物流很快，包装完好"]}, headers=caller)
            seen.append((response.status_code, response.json().get("model_version", response.text)))

    threads = [threading.Thread(target=keep_scoring) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(2):
            assert (
                service.client.post(f"/v1/models/{CANDIDATE}/promote", json={"force": True}, headers=admin).status_code
                == 200
            )
            assert service.client.post("/v1/models/rollback", headers=admin).status_code == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert seen and {status for status, _ in seen} == {200}
    assert {version for _, version in seen} <= {BUILTIN, CANDIDATE}


ROLE_CASES: list[tuple[str, str, str, Callable[[], dict[str, Any]] | None, int]] = [
    ("service", "GET", "/v1/models", None, 403),
    ("analyst", "POST", f"/v1/models/{CANDIDATE}/promote", lambda: {"force": True}, 403),
    ("analyst", "POST", "/v1/models/rollback", None, 403),
    ("admin", "POST", "/v1/models/v-unknown/promote", lambda: {"force": True}, 404),
    ("admin", "POST", "/v1/models/rollback", None, 409),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "status"), ROLE_CASES)
def test_who_may_list_promote_and_roll_back(
    service: Service, role: str, method: str, path: str, body: Callable[[], dict[str, Any]] | None, status: int
) -> None:
    response = service.client.request(method, path, json=body() if body else None, headers=service.key(role))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert service.client.get("/v1/models", headers=service.key("admin")).json()["active"] == BUILTIN
