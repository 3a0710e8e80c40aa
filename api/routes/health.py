"""Liveness, readiness and Prometheus metrics (no key needed; the service binds 127.0.0.1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from api.db import ping
from api.deps import ServicesDep
from api.routes import problems
from api.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyOut, responses={503: {"description": "Not ready", "model": ReadyOut}})
def readyz(services: ServicesDep, response: Response) -> dict[str, Any]:
    """Ready when the model is loaded, the database answers and (if enabled) the worker runs. A newly
    active version that could not be loaded is named in `model_error` while the old one serves."""
    try:
        ping(services.engine)
        database = "ok"
    except SQLAlchemyError:
        database = "unreachable"
    version = services.analyzer.version
    worker = "off" if services.worker is None else ("running" if services.worker.running else "stopped")
    ready = database == "ok" and worker != "stopped"
    response.status_code = 200 if ready else 503
    return {
        "status": "ready" if ready else "not ready",
        "model_version": version,
        "database": database,
        "worker": worker,
        "model_error": services.analyzer.holder.last_error,
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses=problems(503) | {200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics: requests and latency by route, real-time batch sizes, items analysed, and
    the model version serving now (it follows hot swaps)."""
    _, version = services.analyzer.holder.current()
    services.metrics.model_info.clear()
    services.metrics.model_info.labels(version).set(1)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
