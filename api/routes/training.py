"""Training jobs: retrain the sentiment model on an uploaded labelled file or on the field labels, in
the service's training thread; poll the job for its progress, its new version or its problems."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from api.deps import AdminKey, ServicesDep, SessionDep
from api.errors import ApiError, ConflictError, NotFoundError, UnavailableError
from api.routes import RowId, problems, read_limited
from api.routes.models import RegistryDep
from api.schemas import TrainingJobCreatedOut, TrainingJobOut
from api.tables import TrainingJob
from api.training_jobs import TrainingRunner, job_view, safe_filename, submit_job
from models.registry import VERSION_PATTERN

router = APIRouter(prefix="/v1/training-jobs", tags=["training"])
# section.key=value, as `kesheng train --set` takes them.
OVERRIDE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+=.{0,200}$")


class InvalidJobError(ApiError):
    code, status, title = "E622", 422, "Invalid request"


def _runner(request: Request) -> TrainingRunner:
    runner: TrainingRunner | None = request.app.state.training
    if runner is None:
        raise UnavailableError("training jobs are switched off in this service (KESHENG_TRAINING=false)")
    return runner


@router.post(
    "",
    response_model=TrainingJobCreatedOut,
    status_code=202,
    responses=problems(401, 403, 409, 413, 422, 503),
)
async def create_job(
    request: Request,
    services: ServicesDep,
    registry: RegistryDep,
    key: AdminKey,
    response: Response,
    file: Annotated[
        UploadFile | None, File(description="Labelled training data: CSV/TSV/JSONL with a text and a 0/1 label")
    ] = None,
    source: Annotated[
        Literal["upload", "labels"], Form(description="upload: the file; labels: the labels given via /v1/labels")
    ] = "upload",
    max_steps: Annotated[int | None, Form(ge=1, le=1_000_000, description="Stop after this many steps")] = None,
    overrides: Annotated[
        list[str] | None, Form(description="Recipe overrides as section.key=value, e.g. train.lr=2e-5")
    ] = None,
    version: Annotated[str | None, Form(description="Name of the new version; default v<date>-<n>")] = None,
    from_base: Annotated[bool, Form(description="Start from the base encoder, not the active version")] = False,
    drop_duplicates: Annotated[bool, Form(description="Keep the first copy of duplicate texts")] = False,
) -> TrainingJobCreatedOut:
    """Queue a retraining job (202). It runs in the service's training thread, one job at a time:
    validate → fine-tune → export → evaluate → register a new version (not promoted). Bad training
    data ends the job `failed` with every problem's file, row and field."""
    runner = _runner(request)
    if source == "upload" and file is None:
        raise InvalidJobError("file: a labelled training file is required (or source=labels)")
    if source == "labels" and file is not None:
        raise InvalidJobError("file: not used with source=labels; send one or the other")
    for override in overrides or []:
        if not OVERRIDE.match(override):
            raise InvalidJobError(f"overrides: {override!r} is not section.key=value (e.g. train.lr=2e-5)")
    if version is not None:
        if not VERSION_PATTERN.match(version):
            raise InvalidJobError(f"version: {version!r}: 1-64 letters, digits, '.', '_' or '-'")
        if version in {v.version for v in await run_in_threadpool(registry.list_versions)}:
            raise ConflictError(f"version: model version {version!r} already exists")
    params: dict[str, Any] = {
        "source": source,
        "max_steps": max_steps,
        "overrides": list(overrides or []),
        "version": version,
        "from_base": from_base,
        "drop_duplicates": drop_duplicates,
    }
    upload = None
    if file is not None:
        name = safe_filename(file.filename or "")
        upload = (name, await read_limited(file, services.settings.max_upload_bytes))
        params["filename"] = name
    job = await run_in_threadpool(submit_job, services.factory, services.settings, params, upload, key.key_id)
    runner.notify()
    response.headers["Location"] = f"/v1/training-jobs/{job.id}"
    return TrainingJobCreatedOut(id=job.id, status="queued")


@router.get("", response_model=list[TrainingJobOut], responses=problems(401, 403, 422))
def list_jobs(
    session: SessionDep,
    services: ServicesDep,
    _key: AdminKey,
    response: Response,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[dict[str, Any]]:
    """Training jobs, newest first (the total is in X-Total-Count)."""
    response.headers["X-Total-Count"] = str(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)
    jobs = session.scalars(select(TrainingJob).order_by(TrainingJob.id.desc()).offset(offset).limit(limit)).all()
    return [job_view(services.settings, job) for job in jobs]


@router.get("/{job_id}", response_model=TrainingJobOut, responses=problems(401, 403, 404, 422))
def get_job(job_id: RowId, session: SessionDep, services: ServicesDep, _key: AdminKey) -> dict[str, Any]:
    """Status, phase, progress (steps), log tail; when done the new version and its comparison with
    the active one on the golden sets; when failed the error and the training data's problems."""
    job = session.get(TrainingJob, job_id)
    if job is None:
        raise NotFoundError(f"no training job {job_id}")
    return job_view(services.settings, job)
