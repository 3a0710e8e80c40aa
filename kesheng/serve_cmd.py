"""`kesheng serve` (the HTTP service) and `kesheng keys` (API keys), registered on the main CLI app."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

keys_app = typer.Typer(help="API keys of the HTTP service (stored hashed; a key is shown once).", no_args_is_help=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL; default SQLite in the data directory.")]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (KESHENG_DATA_DIR); default ~/.local/share/kesheng.")
]


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="kesheng.toml with every setting; default $KESHENG_CONFIG, else ./kesheng.toml."),
]


def _config(config: Path | None = None, **overrides: Any) -> Any:
    """kesheng.toml and the environment, with the options actually given on the command line on top."""
    from dataclasses import replace

    from api.settings import load_config

    loaded = load_config(config)
    mapping = {"db": "db_url"}
    given = {mapping.get(k, k): v for k, v in overrides.items() if v is not None}
    return replace(loaded, service=replace(loaded.service, **given))


def _database(db: str | None, data_dir: Path | None) -> Any:
    from api.db import make_engine, migrate, session_factory

    settings = _config(db=db, data_dir=data_dir).service
    engine = make_engine(settings.database_url())
    migrate(engine)
    return session_factory(engine)


def serve(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Files to queue as batches at start-up (e.g. the demo sample).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind (keep 127.0.0.1 unless behind a proxy).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    themes: Annotated[
        Path | None, typer.Option(help="Your demand taxonomy (TOML, KESHENG_THEMES_PATH); default: the bundled one.")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Pin a model folder (no hot swap); default: active.")] = None,
    lexicon: Annotated[bool, typer.Option("--lexicon", help="Score with the lexicon instead of the model.")] = False,
    no_names: Annotated[bool, typer.Option("--no-names", help="Skip person-name redaction (no NER model).")] = False,
    load: Annotated[list[Path] | None, typer.Option("--load", help="A file to queue (repeatable); as FILES.")] = None,
    access_log: Annotated[bool, typer.Option(help="Log one line per request (never keys).")] = True,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Serve the API and the dashboard only: no batch worker in this process (KESHENG_WORKER=false). "
            "With KESHENG_BROKER_URL batches always go to `kesheng worker` processes.",
        ),
    ] = False,
) -> None:
    """Start the HTTP service (FastAPI; OpenAPI docs at /docs). Settings also come from kesheng.toml and KESHENG_*."""
    import uvicorn

    from api.app import create_app
    from api.store import accept_upload
    from nlp.errors import KeshengError
    from nlp.personal import install_log_scrubbing

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_scrubbing()  # no phone number or e-mail in a log line, whatever logs it
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration plugin otherwise
    try:
        whole = _config(
            config,
            host=host,
            port=port,
            db=db,
            data_dir=data_dir,
            themes_path=themes,
            model_dir=model,
            lexicon=lexicon or None,
            redact_names=False if no_names else None,
            worker=False if no_worker else None,
        )
        whole.service.check_deployment()
    except KeshengError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    settings = whole.service
    queued = [*(files or []), *(load or [])]
    if queued:
        factory = _database(settings.db_url or None, settings.data_dir)
        for path in queued:
            try:
                accepted = accept_upload(factory, settings, path.read_bytes(), path.name, kind=None, columns=None)
            except (OSError, KeshengError) as error:
                typer.echo(f"error: {path}: {error}", err=True)
                raise typer.Exit(code=2) from None
            state = "already stored" if accepted.duplicate else "queued"
            typer.echo(f"{path}: batch {accepted.batch.id} ({state}, {accepted.batch.total} items)")
    url = f"http://{settings.host}:{settings.port}"
    mode = " — batches to Celery workers" if settings.broker_url else ""
    typer.echo(f"kesheng serving on {url} — API docs: {url}/docs (data: {_shown_url(settings.database_url())}){mode}")
    uvicorn.run(
        create_app(settings, config=whole),
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        log_level="info",
    )


def _expiry(expires_in: str | None, expires_at: str | None) -> Any:
    """The expiry the create options give (a UTC datetime), or None; BadParameter naming the option."""
    from datetime import UTC, datetime

    from api.keys import KeyExpiryError, checked_expiry, duration

    if expires_in is not None and expires_at is not None:
        raise typer.BadParameter("give --expires-in or --expires-at, not both", param_hint="--expires-in")
    now = datetime.now(UTC)
    try:
        if expires_in is not None:
            return checked_expiry(now + duration(expires_in), now)
        if expires_at is not None:
            try:
                moment = datetime.fromisoformat(expires_at)
            except ValueError:
                raise KeyExpiryError(
                    f"{expires_at!r}: expected an ISO date or time, e.g. 2027-06-30T18:00+08:00"
                ) from None
            return checked_expiry(moment, now)
    except KeyExpiryError as error:
        raise typer.BadParameter(str(error), param_hint="--expires-in" if expires_in else "--expires-at") from None
    return None


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="service (real-time scoring), analyst (uploads, reads) or admin.")],
    name: Annotated[str, typer.Option(help="Who or what the key is for (at most 100 characters).")] = "",
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="Lifetime: 30d, 12h, 90m, 2w (at most 10 years).")
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option("--expires-at", help="Expiry as ISO date or time (2027-06-30T18:00+08:00; no zone: UTC)."),
    ] = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key and print it (the only time it is shown; only its hash is stored). Audited."""
    from api.keys import ROLES, create_key

    if role not in ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(ROLES)}", param_hint="--role")
    if len(name) > 100 or "\x00" in name:
        raise typer.BadParameter("at most 100 characters, no NUL", param_hint="--name")
    expiry = _expiry(expires_in, expires_at)
    factory = _database(db, data_dir)
    with factory() as session, session.begin():
        row, key = create_key(session, role, name, expiry)
    until = f", expires {expiry:%Y-%m-%d %H:%M} UTC" if expiry else ""
    typer.echo(f"created {role} key {row.id} ({row.prefix}{until}); store it now, it is not shown again:", err=True)
    typer.echo(key)


@keys_app.command("list")
def list_keys(db: DbOption = None, data_dir: DataDirOption = None) -> None:
    """List keys (id, prefix, role, name, created, expiry, revoked; times in UTC); never the keys themselves."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from api.tables import ApiKey

    factory = _database(db, data_dir)
    now = datetime.now(UTC)
    with factory() as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.id)):
            expiry = ""
            if row.expires_at is not None:
                expiry = f" {'expired' if row.expires_at <= now else 'expires'} {row.expires_at:%Y-%m-%d %H:%M}"
            revoked = f" revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else ""
            created = f"{row.created_at:%Y-%m-%d %H:%M}"
            typer.echo(f"{row.id}\t{row.prefix}\t{row.role}\t{row.name}\t{created}{expiry}{revoked}")


@keys_app.command("revoke")
def revoke(key_id: int, db: DbOption = None, data_dir: DataDirOption = None) -> None:
    """Revoke a key by id (a running service notices within 30 seconds). Audited."""
    from api.keys import revoke_key
    from api.tables import ApiKey

    factory = _database(db, data_dir)
    with factory() as session, session.begin():
        row = session.get(ApiKey, key_id)
        if row is None:
            typer.echo(f"error: no key {key_id}", err=True)
            raise typer.Exit(code=2)
        revoke_key(session, row)
    typer.echo(f"revoked key {key_id}")


def _shown_url(url: str) -> str:
    """A database or broker URL without its password, to print."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads (a redis:// one): cut what could be a password
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


QUEUE_NAMES = ("batches", "training", "webhooks")


def worker(
    queues: Annotated[
        str,
        typer.Option(
            help="Queues to take tasks from, comma-separated: batches (analysis), training (retraining jobs), "
            "webhooks (alert pushes)."
        ),
    ] = ",".join(QUEUE_NAMES),
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Pool processes; each loads the model and keeps one core busy.")
    ] = 1,
    broker: Annotated[str | None, typer.Option("--broker", help="Redis URL (KESHENG_BROKER_URL).")] = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    themes: Annotated[
        Path | None, typer.Option(help="Your demand taxonomy (TOML, KESHENG_THEMES_PATH); as the service's.")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Pin a model folder (no hot swap); default: active.")] = None,
    lexicon: Annotated[bool, typer.Option("--lexicon", help="Score with the lexicon instead of the model.")] = False,
    no_names: Annotated[bool, typer.Option("--no-names", help="Skip person-name redaction (no NER model).")] = False,
) -> None:
    """Start a Celery worker: analyses the batches, runs the training jobs and pushes the alerts that
    `kesheng serve` hands out through the broker (KESHENG_BROKER_URL; the store must be PostgreSQL and
    the data directory and key shared with the service). Stop it with Ctrl-C or SIGTERM."""
    from api.db import make_engine, migrate, session_factory
    from api.training_jobs import recover_jobs
    from nlp.errors import KeshengError
    from nlp.personal import install_log_scrubbing

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_scrubbing()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    chosen = tuple(dict.fromkeys(q.strip() for q in queues.split(",") if q.strip()))
    unknown = [q for q in chosen if q not in QUEUE_NAMES]
    if not chosen or unknown:
        raise typer.BadParameter(f"{', '.join(unknown) or '(none)'}: the queues are {', '.join(QUEUE_NAMES)}")
    try:
        whole = _config(
            config,
            db=db,
            data_dir=data_dir,
            broker_url=broker,
            themes_path=themes,
            model_dir=model,
            lexicon=lexicon or None,
            redact_names=False if no_names else None,
        )
        settings = whole.service
        if not settings.broker_url:
            raise KeshengError(
                "kesheng worker needs a broker: set KESHENG_BROKER_URL=redis://host:6379/0 (or --broker)"
            )
        settings.check_deployment()
        engine = make_engine(settings.database_url())
        before, after = migrate(engine)
        if before != after:
            typer.echo(f"database migrated from {before} to {after}", err=True)
        if (
            "training" in chosen
            and settings.worker_recover_on_start
            and (taken := recover_jobs(session_factory(engine)))
        ):
            typer.echo(f"{taken} interrupted training job(s) marked failed", err=True)
        engine.dispose()
    except KeshengError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    from api.distributed.tasks import run_worker

    typer.echo(
        f"kesheng worker on {', '.join(chosen)} ({concurrency} process(es)); broker {_shown_url(settings.broker_url)},"
        f" data {_shown_url(settings.database_url())}",
        err=True,
    )
    raise typer.Exit(code=run_worker(settings, whole, chosen, concurrency))


def register(app: typer.Typer) -> None:
    """Add `serve`, `worker` and `keys` to the main `kesheng` command."""
    app.command()(serve)
    app.command()(worker)
    app.add_typer(keys_app, name="keys")
