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
) -> None:
    """Start the HTTP service (FastAPI; OpenAPI docs at /docs). Settings also come from kesheng.toml and KESHENG_*."""
    import uvicorn

    from api.app import create_app
    from api.store import accept_upload
    from nlp.errors import KeshengError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
        )
    except KeshengError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    settings = whole.service
    queued = [*(files or []), *(load or [])]
    if queued:
        factory = _database(settings.db_url or None, settings.data_dir)
        for path in queued:
            try:
                accepted = accept_upload(
                    factory,
                    path.read_bytes(),
                    path.name,
                    kind=None,
                    columns=None,
                    max_rows=settings.max_rows,
                    max_item_chars=settings.max_item_chars,
                )
            except (OSError, KeshengError) as error:
                typer.echo(f"error: {path}: {error}", err=True)
                raise typer.Exit(code=2) from None
            state = "already stored" if accepted.duplicate else "queued"
            typer.echo(f"{path}: batch {accepted.batch.id} ({state}, {accepted.batch.total} items)")
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"kesheng serving on {url} — API docs: {url}/docs (data: {settings.database_url()})")
    uvicorn.run(
        create_app(settings, config=whole),
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        log_level="info",
    )


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="service (real-time scoring), analyst (uploads, reads) or admin.")],
    name: Annotated[str, typer.Option(help="Who or what the key is for (at most 100 characters).")] = "",
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key and print it (the only time it is shown; only its hash is stored)."""
    from api.keys import ROLES, create_key

    if role not in ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(ROLES)}", param_hint="--role")
    if len(name) > 100 or "\x00" in name:
        raise typer.BadParameter("at most 100 characters, no NUL", param_hint="--name")
    factory = _database(db, data_dir)
    with factory() as session, session.begin():
        row, key = create_key(session, role, name)
    typer.echo(f"created {role} key {row.id} ({row.prefix}); store it now, it is not shown again:", err=True)
    typer.echo(key)


@keys_app.command("list")
def list_keys(db: DbOption = None, data_dir: DataDirOption = None) -> None:
    """List keys (id, prefix, role, name, created, revoked); never the keys themselves."""
    from sqlalchemy import select

    from api.tables import ApiKey

    factory = _database(db, data_dir)
    with factory() as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.id)):
            revoked = f" revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else ""
            typer.echo(f"{row.id}\t{row.prefix}\t{row.role}\t{row.name}\t{row.created_at:%Y-%m-%d %H:%M}{revoked}")


@keys_app.command("revoke")
def revoke(key_id: int, db: DbOption = None, data_dir: DataDirOption = None) -> None:
    """Revoke a key by id (a running service notices within 30 seconds)."""
    from datetime import UTC, datetime

    from api.tables import ApiKey

    factory = _database(db, data_dir)
    with factory() as session, session.begin():
        row = session.get(ApiKey, key_id)
        if row is None:
            typer.echo(f"error: no key {key_id}", err=True)
            raise typer.Exit(code=2)
        row.revoked_at = row.revoked_at or datetime.now(UTC)
    typer.echo(f"revoked key {key_id}")


def register(app: typer.Typer) -> None:
    """Add `serve` and `keys` to the main `kesheng` command."""
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
