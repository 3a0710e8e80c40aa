"""The `kesheng` command line: a thin edge that validates, calls the pipeline and writes files."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from nlp.errors import KeshengError, RowProblem
from nlp.schema import Item

app = typer.Typer(
    help="客声 kesheng — offline Chinese voice-of-customer analysis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(error: KeshengError) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=2)


def _parse_columns(pairs: list[str]) -> dict[str, str]:
    """`text=回答` pairs → {"text": "回答"}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, header = pair.partition("=")
        if not sep or not canonical.strip() or not header.strip():
            raise typer.BadParameter(f"expected CANONICAL=HEADER, got {pair!r}", param_hint="--column")
        mapping[canonical.strip()] = header.strip()
    return mapping


def _write_jsonl_atomic(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    """Write rows to a temporary file and rename it, so a failed run leaves no half-written output."""
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


@app.command()
def analyze(
    inputs: Annotated[
        list[Path], typer.Argument(help="Transcript (.jsonl, .txt) and survey (.csv, .xlsx, .jsonl) files.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
    kind: Annotated[str | None, typer.Option(help="Force 'transcript' or 'survey' for every input.")] = None,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", "-c", help="Survey column mapping, e.g. -c text=回答 -c tier=等级."),
    ] = None,
    no_names: Annotated[
        bool, typer.Option("--no-names", help="Skip person-name redaction (no NER model).")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 64,
) -> None:
    """Files → DIR/results.jsonl (one result per item) and DIR/report.json (inputs, mappings, bad rows)."""
    from tqdm import tqdm

    from nlp.config import PipelineConfig, RedactionConfig
    from nlp.pipeline import build_pipeline
    from nlp.readers import read_path

    if kind not in (None, "transcript", "survey"):
        raise typer.BadParameter("must be 'transcript' or 'survey'", param_hint="--kind")
    columns = _parse_columns(column or [])
    # Read and validate every input before anything is written: a rejected file rejects the batch.
    items: list[Item] = []
    problems: list[RowProblem] = []
    reports: list[dict[str, Any]] = []
    try:
        for path in inputs:
            outcome = read_path(path, kind=kind, columns=columns or None)  # type: ignore[arg-type]
            items.extend(outcome.items)
            problems.extend(outcome.problems)
            reports.append({**outcome.report, "items": len(outcome.items), "problems": len(outcome.problems)})
    except KeshengError as error:
        raise _fail(error) from None

    config = PipelineConfig(redaction=RedactionConfig(person_names=not no_names))
    pipeline = build_pipeline(config)
    out.mkdir(parents=True, exist_ok=True)
    labels: Counter[str] = Counter()

    def rows() -> Iterator[dict[str, Any]]:
        with tqdm(total=len(items), unit="item", desc="analyze", file=sys.stderr, disable=None) as bar:
            for result in pipeline.pipe(items, batch_size=batch_size):
                labels[result.sentiment.label] += 1
                bar.update(1)
                yield result.to_dict()

    results_path = out / "results.jsonl"
    written = _write_jsonl_atomic(results_path, rows())
    report = {
        "inputs": reports,
        "items": written,
        "labels": dict(labels),
        "model_version": pipeline.scorer.version,
        "problems": [p.to_dict() for p in problems],
    }
    report_path = out / "report.json"
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _print_summary(report, results_path, report_path, sys.stdout)


def _print_summary(report: dict[str, Any], results: Path, report_path: Path, stream: TextIO) -> None:
    labels = report["labels"]
    files = len(report["inputs"])
    print(
        f"analysed {report['items']} items from {files} file(s) with {report['model_version']}: "
        f"{labels.get('negative', 0)} negative, {labels.get('neutral', 0)} neutral, "
        f"{labels.get('positive', 0)} positive",
        file=stream,
    )
    for entry in report["inputs"]:
        print(
            f"  {entry['file']}: {entry['format']}, {entry['encoding']}, {entry['items']} items", file=stream
        )
    if report["problems"]:
        print(f"{len(report['problems'])} bad row(s) reported in {report_path}:", file=stream)
        for problem in report["problems"][:5]:
            print(
                f"  {problem['file']}:{problem['row']} [{problem['field']}] {problem['message']}", file=stream
            )
    print(f"results: {results}", file=stream)
    print(f"report:  {report_path}", file=stream)


@app.command()
def score(
    source: Annotated[
        str, typer.Argument(help="A file with one text per line, or - for standard input.")
    ] = "-",
) -> None:
    """Texts (one per line) → one JSON object per line: label, score, negative_probability, model_version."""
    from nlp.config import SentimentConfig
    from nlp.normalize import normalize
    from nlp.readers.encoding import decode_bytes, split_lines
    from nlp.sentiment.lexicon import LexiconScorer
    from nlp.tokenize import Tokenizer

    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    try:
        text, _encoding = decode_bytes(data, "<stdin>" if source == "-" else source)
    except KeshengError as error:
        raise _fail(error) from None
    texts = split_lines(text)
    if texts and texts[-1] == "":
        texts.pop()  # the final newline ends the last line; it does not start another
    scorer = LexiconScorer(Tokenizer(), SentimentConfig())
    for sentiment in scorer.score([normalize(t) for t in texts]):
        print(json.dumps(sentiment.to_dict(), ensure_ascii=False))


@app.callback()
def _startup() -> None:
    # jieba announces every dictionary load at DEBUG level on its own logger, which it configures at
    # import; keep the CLI output clean.
    import jieba

    jieba.setLogLevel(logging.WARNING)


def main() -> None:
    app()
