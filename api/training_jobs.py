"""Training jobs of the service: POST /v1/training-jobs queues one, a background thread runs them one
at a time through ``training.retrain`` (validate → fine-tune → export → evaluate → register), and
GET /v1/training-jobs/{id} reads its status, log tail, progress, result or problems.

A job's files live in ``<data_dir>/training-jobs/<id>/``: ``input/`` (the uploaded file, or the field
labels exported at the start of the job) and ``run/`` (retrain's run folder). The recipe is
``training_config``, by default the packaged one (training/configs/sentiment.toml), whose base
encoder is built once into ``<data_dir>/base-encoder`` from the installed packages. A new version is
registered, never promoted: promotion is a separate, gated step (POST /v1/models/{version}/promote).

Field labels (``source=labels``) are exported as ``kesheng labels export`` writes them: 0/1 while
every label is negative or positive, else the three-way columns (label, emotion). Retraining takes
the three-way path (training.retrain_multihead: the active version's polarity and emotion heads
fine-tuned) when the labels include neutral or emotions or the active version is three-way; a job
with ``from_base`` asks for a binary model from the base encoder (refused with three-way labels).
A job left running by a stopped service is marked failed at the next start (submit it again).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.background import BackgroundLoop
from api.labels_db import export_labels
from api.settings import Settings
from api.tables import TrainingJob
from models.registry import Registry
from nlp.errors import KeshengError
from nlp.personal import scrub

log = logging.getLogger("kesheng.api.training")
LOG_TAIL = 50
JOBS_DIR = "training-jobs"
SAFE_NAME = re.compile(r"[^\w.\-]+")
LABELS_FILE = "labels.tsv"


def _now() -> datetime:
    return datetime.now(UTC)


def job_dir(settings: Settings, job_id: int) -> Path:
    """The folder of a job's input and run."""
    return settings.data_dir / JOBS_DIR / str(job_id)


def safe_filename(name: str) -> str:
    """A file name that stays inside the job folder and keeps its extension (it picks the format)."""
    base = SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return base[-100:] or "upload"


def submit_job(
    factory: sessionmaker[Session],
    settings: Settings,
    params: dict[str, Any],
    upload: tuple[str, bytes] | None,
    key_id: int | None,
) -> TrainingJob:
    """Queue a job; an uploaded file is saved into the job folder before the job becomes visible."""
    now = _now()
    with factory() as session, session.begin():
        job = TrainingJob(status="queued", phase="queued", params=params, key_id=key_id, created_at=now)
        session.add(job)
        session.flush()
        if upload is not None:
            name, content = upload
            folder = job_dir(settings, job.id) / "input"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
    return job


def recover_jobs(factory: sessionmaker[Session]) -> int:
    """Mark jobs left running by a stopped service as failed (training cannot continue in-process)."""
    with factory() as session, session.begin():
        result = session.execute(
            update(TrainingJob)
            .where(TrainingJob.status == "running")
            .values(
                status="failed",
                phase="failed",
                error="interrupted: the service stopped while the job ran; submit it again",
                finished_at=_now(),
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)


def progress(settings: Settings, job: TrainingJob) -> dict[str, Any]:
    """Training steps done and planned, read from the run folder (history.jsonl, last/state.json)."""
    run = job_dir(settings, job.id) / "run"
    step: int | None = None
    total: int | None = job.params.get("max_steps")
    history = run / "history.jsonl"
    if history.is_file():
        for line in history.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written right now
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                step = record["step"]
    state = run / "last" / "state.json"
    if state.is_file():
        # A state file being replaced, or an older format: the total stays unknown.
        with contextlib.suppress(ValueError, KeyError, TypeError):
            total = int(json.loads(state.read_text(encoding="utf-8"))["total_steps"])
    if job.status == "done" and total is not None:
        step = total
    fraction = round(min(step / total, 1.0), 4) if step is not None and total else None
    return {"step": step, "total_steps": total, "fraction": fraction}


def job_view(settings: Settings, job: TrainingJob) -> dict[str, Any]:
    """The TrainingJobOut document."""
    return {
        "id": job.id,
        "status": job.status,
        "phase": job.phase,
        "params": job.params,
        "progress": progress(settings, job),
        "log": list(job.log),
        "version": job.version,
        "result": job.result or None,
        "error": job.error,
        "problems": list(job.problems),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


class TrainingRunner(BackgroundLoop):
    """Runs queued training jobs one at a time in a background thread (or one by one with `run_once`).

    `stop` stops taking jobs; a job being trained is not interrupted (it is marked failed at the next
    start if the process ends first)."""

    thread_name = "kesheng-training"

    def __init__(self, factory: sessionmaker[Session], settings: Settings, registry: Registry) -> None:
        super().__init__(settings.worker_poll_seconds)
        self.factory, self.settings, self.registry = factory, settings, registry

    def claim(self) -> int | None:
        """Take the oldest queued job; None when there is none."""
        with self.factory() as session:
            job_id = session.scalar(
                select(TrainingJob.id).where(TrainingJob.status == "queued").order_by(TrainingJob.id).limit(1)
            )
        if job_id is None:
            return None
        return int(job_id) if self.claim_job(job_id) else None

    def claim_job(self, job_id: int) -> bool:
        """Take job `job_id` if it is still queued (a conditional UPDATE: one taker wins)."""
        with self.factory() as session, session.begin():
            result = session.execute(
                update(TrainingJob)
                .where(TrainingJob.id == job_id, TrainingJob.status == "queued")
                .values(status="running", phase="validating", started_at=_now())
            )
        return getattr(result, "rowcount", 0) == 1

    def run_once(self) -> bool:
        """Claim and run one job; False when there was nothing to do."""
        job_id = self.claim()
        if job_id is None:
            return False
        self.execute(job_id)
        return True

    def execute(self, job_id: int) -> None:
        """Run a claimed job; whatever goes wrong, it ends done or failed, never "running" forever.
        (The in-process runner and the Celery training task both call it.)"""
        try:
            self.run(job_id)
        except Exception as error:
            log.exception("training job %s failed", job_id)
            self._finish(job_id, "failed", error=f"internal error: {type(error).__name__}: {error}")

    def run(self, job_id: int) -> None:
        """Run one claimed job to done or failed."""
        from training.recipe import PACKAGED_RECIPE
        from training.retrain import RetrainRequest, retrain
        from training.validate import TrainingDataError, ValidationConfig

        with self.factory() as session:
            job = session.get(TrainingJob, job_id)
            if job is None:
                return
            params = dict(job.params)
        folder = job_dir(self.settings, job_id)
        inputs = folder / "input"
        # Problems name the file as the client sent it, not the server's copy.
        display = {f"{inputs}/": ""}
        try:
            if params.get("source") == "labels":
                with self.factory() as session:
                    # Every label: 0/1 while all are negative/positive, else the three-way columns,
                    # which retrain fine-tunes the three-way and emotion heads on.
                    export = export_labels(session, inputs / LABELS_FILE)
                kind = "" if export.kind == "binary" else " (three-way: neutral labels or emotions)"
                self._log(job_id, f"{export.rows} labelled item(s) exported from the field labels{kind}")
                data = inputs / LABELS_FILE
            else:
                data = inputs / str(params["filename"])
            validation = ValidationConfig.load(self.registry.config)
            if params.get("drop_duplicates"):
                validation = replace(validation, duplicates="drop")
            overrides = [*params.get("overrides", [])]
            if params.get("max_steps"):
                overrides.append(f"train.max_steps={int(params['max_steps'])}")
            # No recipe configured: the packaged one, with the base encoder built into the data
            # directory; a recipe's relative paths start at training_root, else the data directory.
            request = RetrainRequest(
                config=self.settings.training_config or PACKAGED_RECIPE,
                data=(data,),
                overrides=tuple(overrides),
                out=folder / "run",
                root=self.settings.training_root or self.settings.data_dir,
                version=params.get("version"),
                from_base=bool(params.get("from_base")),
                validation=validation,
                home=self.settings.data_dir,
            )
            result = retrain(request, self.registry, log=lambda line: self._log(job_id, _shown(line, display)))
        except TrainingDataError as error:
            problems = [
                {k: _shown(v, display) if isinstance(v, str) else v for k, v in p.to_dict().items()}
                for p in error.problems
            ]
            self._finish(job_id, "failed", error=_shown(str(error), display), problems=problems)
            return
        except KeshengError as error:
            self._finish(job_id, "failed", error=_shown(str(error), display))
            return
        version = result.version.version
        self._set(job_id, phase="comparing")
        summary: dict[str, Any] = {
            "version": version,
            "parent_version": result.version.parent_version,
            "started_from": result.started_from,
            "validation": result.validation.summary(),
            "warnings": [_shown(str(p), display) for p in result.validation.warnings],
        }
        try:
            summary["comparison"] = self.registry.compare(version).to_dict()
        except KeshengError as error:
            summary["comparison_error"] = str(error)
        self._finish(job_id, "done", version=version, result=summary)

    # ---- writing the job's row -------------------------------------------------------------------
    def note(self, job_id: int, line: str) -> None:
        """Add `line` to the job's log (e.g. which worker took it)."""
        self._log(job_id, line)

    def _log(self, job_id: int, line: str) -> None:
        phase = "training" if line.startswith("fine-tuning") else "preparing" if line.startswith("validated") else None
        with self.factory() as session, session.begin():
            job = session.get(TrainingJob, job_id)
            if job is not None:
                job.log = [*job.log, line][-LOG_TAIL:]
                if phase is not None:
                    job.phase = phase

    def _set(self, job_id: int, **values: Any) -> None:
        with self.factory() as session, session.begin():
            session.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(**values))

    def _finish(self, job_id: int, status: str, **values: Any) -> None:
        log.info("training job %s %s%s", job_id, status, f": {values.get('error')}" if "error" in values else "")
        self._set(job_id, status=status, phase=status, finished_at=_now(), **values)


def _shown(text: str, replacements: dict[str, str]) -> str:
    """A log line or error as the job shows it: server paths replaced, personal data scrubbed."""
    for old, new in replacements.items():
        text = text.replace(old, new)
    return scrub(text)


__all__ = ["TrainingRunner", "job_dir", "job_view", "progress", "recover_jobs", "safe_filename", "submit_job"]
