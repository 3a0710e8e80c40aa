"""The FastAPI application: `create_app(settings)`; the model loads once, in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from api import dashboard, errors
from api.analysis import Analyzer
from api.batcher import MicroBatcher
from api.body_limit import MULTIPART_OVERHEAD, BodyLimit
from api.db import make_engine, migrate, session_factory
from api.distributed.celery_app import Broker
from api.distributed.dispatcher import Dispatcher
from api.metrics import Metrics, MetricsMiddleware
from api.model_holder import ModelHolder, service_registry
from api.routes import (
    alerts,
    audit,
    batches,
    followups,
    health,
    heatmap,
    items,
    keys,
    labels,
    models,
    sentiment,
    training,
)
from api.schemas import openapi as openapi_document
from api.services import BatchRunner, Services
from api.settings import Settings, load_config, variable
from api.training_jobs import TrainingRunner, recover_jobs
from api.webhook import target_from_settings
from api.webhooks import AlertDelivery
from api.worker import Worker, recover
from nlp.config import AnalysisConfig
from nlp.schema import Item, Result

log = logging.getLogger("kesheng.api")
WARM_UP = Item(id="warm-up", kind="survey", text="快递很快，客服态度也很好")


def create_app(
    settings: Settings | None = None, analyzer: Analyzer | None = None, config: AnalysisConfig | None = None
) -> FastAPI:
    """The service. Without `settings`, kesheng.toml and the KESHENG_* variables (api.settings.load_config)
    give them and the analysis `config`; `analyzer` lets tests share one loaded analyzer."""
    if settings is None:
        whole = load_config()
        settings, config = whole.service, config or whole
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check_deployment()  # a broker needs PostgreSQL
        engine = make_engine(settings.database_url())
        await run_in_threadpool(migrate, engine)
        registry = service_registry(settings)
        if analyzer is not None:
            loaded: Analyzer = analyzer
        else:
            # The registry's active version, followed without a restart; None: a pinned folder or the lexicon.
            holder = await run_in_threadpool(ModelHolder.for_settings, settings)
            loaded = await run_in_threadpool(Analyzer, settings, holder, config)
        await run_in_threadpool(loaded.analyse, [WARM_UP])  # first model call allocates; not a user's
        factory = session_factory(engine)
        batcher: MicroBatcher[Item, Result] = MicroBatcher(
            loaded.analyse,
            max_items=settings.batch_max_items,
            window=settings.batch_window_ms / 1000,
            on_batch=metrics.model_batch.observe,
        )
        await batcher.start()
        webhooks = None
        target = target_from_settings(loaded.rules.webhook)
        dispatcher = None
        if settings.broker_url:
            # Scale-out: batches, training jobs and webhook pushes are tasks of `kesheng worker` processes.
            dispatcher = Dispatcher(factory, Broker(settings), settings, target)
            dispatcher.start()
        elif target is not None:
            webhooks = AlertDelivery(factory, target, settings.webhook_interval_seconds)
            webhooks.start()
        worker: BatchRunner | None = dispatcher
        if settings.worker and dispatcher is None:
            if settings.worker_recover_on_start and (taken := recover(factory)):
                log.info("%s interrupted batch(es) queued again", taken)
            worker = Worker(
                factory,
                loaded,
                settings,
                on_items=metrics.items_analysed.inc,
                on_alerts=webhooks.notify if webhooks is not None else None,
            )
            worker.start()
        runner: TrainingRunner | Dispatcher | None = dispatcher if settings.training else None
        if settings.training and dispatcher is None:
            if taken := recover_jobs(factory):
                log.info("%s interrupted training job(s) marked failed", taken)
            runner = TrainingRunner(factory, settings, registry)
            runner.start()
        app.state.registry, app.state.training = registry, runner
        app.state.services = Services(settings, engine, factory, loaded, batcher, metrics, worker)
        try:
            yield
        finally:
            await batcher.stop()
            if webhooks is not None:
                await run_in_threadpool(webhooks.stop)
            if isinstance(runner, TrainingRunner):
                await run_in_threadpool(runner.stop)
            if isinstance(worker, Worker):
                await run_in_threadpool(worker.stop)
            if dispatcher is not None:
                await run_in_threadpool(dispatcher.stop)
                dispatcher.broker.close()
            engine.dispose()

    # Swagger UI and ReDoc from the assets fastapi-offline ships, not a CDN: the docs work offline.
    app = FastAPIOffline(
        static_url="/static/api-docs",
        redoc_url=None,  # api.dashboard.docs serves ReDoc (its bundle fetches a logo from a CDN otherwise)
        swagger_ui_parameters={"validatorUrl": None},
        title="客声 kesheng",
        version="1",
        summary="Offline Chinese voice-of-customer analysis: sentiment, demand heatmap, alerts.",
        description=(
            "Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Roles: service "
            "(real-time sentiment), analyst (also uploads, results, heatmap, alerts, labels, model list), "
            "admin (also keys, model promotion and rollback, training jobs). "
            "Errors are application/problem+json."
        ),
        lifespan=lifespan,
    )
    errors.install(app)
    routes = (sentiment, batches, items, heatmap, alerts, followups, labels, models, training, keys, audit, health)
    for module in routes:
        app.include_router(module.router)
    dashboard.install(app)
    uploads = (settings.max_upload_bytes + MULTIPART_OVERHEAD, variable("max_upload_bytes"))
    upload_routes = {path: uploads for path in ("/v1/batches", "/v1/training-jobs", "/dashboard/batches")}
    app.add_middleware(
        BodyLimit, default=settings.max_body_bytes, routes=upload_routes, setting=variable("max_body_bytes")
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = openapi_document.complete(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
