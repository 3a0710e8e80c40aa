"""`kesheng secrets new-key | rotate`: the key that encrypts the identifiers kept for call-backs and the
staged uploads (api.crypto). Rotation: put a new key first in KESHENG_SECRET_KEY (or the key file),
keeping the old one after it; run `kesheng secrets rotate`; then remove the old key."""

from __future__ import annotations

import typer

from kesheng.serve_cmd import DataDirOption, DbOption

secrets_app = typer.Typer(
    help="The encryption key of personal identifiers: make one, rotate to it.", no_args_is_help=True
)


@secrets_app.command("new-key")
def new_key() -> None:
    """Print a fresh key (ID:BASE64, 256 bits) for KESHENG_SECRET_KEY or the key file."""
    from api.crypto import new_key as make

    typer.echo(make())


@secrets_app.command("rotate")
def rotate(db: DbOption = None, data_dir: DataDirOption = None) -> None:
    """Re-encrypt every stored identifier under the first configured key (the others only decrypt)."""
    from api.crypto import keyring
    from api.protected import rotate_all
    from kesheng.serve_cmd import _config, _database
    from nlp.errors import KeshengError

    settings = _config(db=db, data_dir=data_dir).service
    try:
        keys = keyring(settings)
        changed = rotate_all(_database(db, data_dir), keys)
    except KeshengError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"{changed} item(s) re-encrypted under key {keys.current}; staged uploads are re-read with any configured key"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")
