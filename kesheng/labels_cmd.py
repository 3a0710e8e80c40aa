"""`kesheng labels export | suggest`: labels given in the field (POST /v1/labels) as training data, and
the stored items most worth labelling next. Both read the service's database (``--db`` / ``--data-dir``
as `kesheng keys`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kesheng.serve_cmd import DataDirOption, DbOption

labels_app = typer.Typer(
    help="Labels from the field: export them for training, find what to label next.", no_args_is_help=True
)


@labels_app.command("export")
def export(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The TSV to write (label<TAB>text, or label<TAB>emotion<TAB>text).")
    ] = Path("labels.tsv"),
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write every labelled item's stored (redacted) text with its label. While every label is
    negative or positive and no emotion is given: label<TAB>text with 1 positive, 0 negative, the
    format `kesheng train --data` validates. Once a label is neutral or an emotion is given:
    label<TAB>emotion<TAB>text with the words (negative/neutral/positive; angry, sad, fear, surprise,
    happy, neutral), an empty cell where the analyst gave none, for `kesheng evaluate`."""
    from api.labels_db import export_labels
    from kesheng.serve_cmd import _database

    factory = _database(db, data_dir)
    with factory() as session:
        written = export_labels(session, out)
    typer.echo(f"{written.rows} labelled text(s) written to {out} ({'<TAB>'.join(written.columns)})")
    if written.rows and written.kind == "binary":
        typer.echo(f"train with: kesheng train --config <recipe> --data {out}")
    elif written.empty_cells:
        typer.echo(
            f"{written.empty_cells} row(s) have no label or no emotion (an empty cell): "
            "kesheng evaluate reads a column only when every row fills it"
        )
    elif written.rows:
        typer.echo(f"evaluate with: kesheng evaluate --data {out}")


@labels_app.command("suggest")
def suggest(
    n: Annotated[int, typer.Argument(min=1, max=100_000, help="How many items to list.")] = 20,
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The N stored items, not yet labelled, the model is least sure about (negative probability
    closest to 0.5): batch id, item id, probability and text, tab-separated."""
    from api.labels_db import least_sure, training_text
    from kesheng.serve_cmd import _database

    factory = _database(db, data_dir)
    with factory() as session:
        items = least_sure(session, n)
    if not items:
        typer.echo("no unlabelled stored item", err=True)
        return
    typer.echo("batch_id\titem_id\tnegative_probability\ttext")
    for item in items:
        typer.echo(f"{item.batch_id}\t{item.item_id}\t{item.negative_probability:.4f}\t{training_text(item)}")


def register(app: typer.Typer) -> None:
    """Add the `labels` group to the main `kesheng` command."""
    app.add_typer(labels_app, name="labels")


__all__ = ["labels_app", "register"]
