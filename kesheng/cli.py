"""The `kesheng` command line: a thin edge that validates, calls the pipeline and writes files."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kesheng import labels_cmd, models_cmd, secrets_cmd, serve_cmd
from nlp.config import SentimentConfig
from nlp.errors import KeshengError
from nlp.schema import Emotion, Sentiment
from nlp.sentiment import Explainer, SentimentScorer, emotion_for

app = typer.Typer(
    help="客声 kesheng — offline Chinese voice-of-customer analysis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="kesheng.toml with every setting; default $KESHENG_CONFIG, else ./kesheng.toml."),
]


def _fail(error: KeshengError) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=2)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; a file that cannot be read is an InputError naming it (one line, no traceback)."""
    from nlp.errors import InputError, Location

    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(Location(str(path)), f"cannot read the file: {error.strerror or error}") from None


def _parse_columns(pairs: list[str]) -> dict[str, str]:
    """`text=回答` pairs → {"text": "回答"}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, header = pair.partition("=")
        if not sep or not canonical.strip() or not header.strip():
            raise typer.BadParameter(f"expected CANONICAL=HEADER, got {pair!r}", param_hint="--column")
        mapping[canonical.strip()] = header.strip()
    return mapping


def load_scorer(model: Path | None, lexicon: bool, config: SentimentConfig) -> SentimentScorer | None:
    """The sentiment model to use: `--model DIR` or a registered VERSION, else the registry's active
    version (the default model until another is promoted), else None (the lexicon).

    None means the pipeline's lexicon scorer; a missing default model is said on stderr, not hidden.
    """
    from kesheng.models_cmd import resolve_model_folder
    from nlp.sentiment.transformer import TransformerScorer

    if lexicon:
        return None
    folder = resolve_model_folder(model)
    if folder is None:
        typer.echo("note: no sentiment model found under models/default; using the lexicon scorer", err=True)
        return None
    return TransformerScorer.load(folder, config)


def _scorer_or_lexicon(model: Path | None, lexicon: bool, config: SentimentConfig) -> SentimentScorer:
    """`load_scorer`, with a lexicon scorer of its own where that says "the lexicon"."""
    from nlp.sentiment.lexicon import LexiconScorer
    from nlp.tokenize import Tokenizer

    return load_scorer(model, lexicon, config) or LexiconScorer(Tokenizer(), config)


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
    dimension: Annotated[str, typer.Option(help="Heatmap columns: tier, channel, region, product, week...")] = "tier",
    config: ConfigOption = None,
    themes: Annotated[
        Path | None, typer.Option(help="Your demand taxonomy (TOML as data/themes.toml); default: the bundled one.")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Alert rules (TOML); default kesheng.toml's [alerts], else data/alerts.toml.")
    ] = None,
    alert_state: Annotated[
        Path | None, typer.Option(help="Alert state file kept between runs; default DIR/alert-state.json.")
    ] = None,
    theme_state: Annotated[
        Path | None,
        typer.Option(help="Discovered themes kept between runs (stable ids); default DIR/theme-state.json."),
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder or registered version; default: active.")] = None,
    lexicon: Annotated[bool, typer.Option("--lexicon", help="Score with the lexicon instead of the model.")] = False,
    no_names: Annotated[bool, typer.Option("--no-names", help="Skip person-name redaction (no NER model).")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 64,
) -> None:
    """Files → DIR/results.jsonl, heatmap.{json,csv,png,html}, trend.png, alerts.json, followups.json
    (the answers to call back) and report.json."""
    from api.settings import load_config
    from kesheng.analyze import AnalyzeOptions, analyze, read_inputs, summary_lines
    from nlp.analysis import Analysis

    if kind not in (None, "transcript", "survey"):
        raise typer.BadParameter("must be 'transcript' or 'survey'", param_hint="--kind")
    options = AnalyzeOptions(
        kind=kind,
        columns=_parse_columns(column or []),
        dimension=dimension,
        alert_state=alert_state or out / "alert-state.json",
        theme_state=theme_state or out / "theme-state.json",
        batch_size=batch_size,
    )
    try:
        settings = load_config(config)
        # The taxonomy and the rules are read before the inputs: a bad file is said at once.
        analysis = Analysis.load(settings, taxonomy=themes, rules=rules, person_names=False if no_names else None)
        batch = read_inputs(inputs, options)
        scorer = load_scorer(model, lexicon, analysis.config.pipeline.sentiment)
        report = analyze(batch, analysis, out, options, scorer=scorer)
    except KeshengError as error:
        raise _fail(error) from None
    for line in summary_lines(report):
        typer.echo(line)


def _score_line(sentiment: Sentiment, emotion: Emotion | None) -> dict[str, Any]:
    """One line of `kesheng score`: the sentiment's dict form and the emotion as results.jsonl has it."""
    out = sentiment.to_dict()
    out["emotion"] = None if emotion is None else emotion.label
    if emotion is not None:
        out["emotion_name"] = emotion.name
        if emotion.probabilities:
            out["emotion_probability"] = round(emotion.probabilities[emotion.label], 4)
            out["emotion_probabilities"] = emotion.rounded()
    return out


def _emotions(sentiments: list[Sentiment], texts: list[str], scorer: SentimentScorer) -> list[Emotion | None]:
    """The model's emotion of each text; without one, the lexicon's for text read as negative, else
    none: what `analyze` gives (nlp.sentiment.emotion_for). The lexicon loads only when needed."""
    from nlp.sentiment.lexicon import LexiconScorer
    from nlp.tokenize import Tokenizer

    explainer: Explainer | None = scorer if isinstance(scorer, Explainer) else None
    emotions: list[Emotion | None] = []
    for sentiment, text in zip(sentiments, texts, strict=True):
        if explainer is None and sentiment.emotion is None and sentiment.label == "negative":
            explainer = LexiconScorer(Tokenizer(), SentimentConfig())
        emotions.append(emotion_for(sentiment, text, explainer) if explainer else sentiment.emotion)
    return emotions


@app.command()
def score(
    source: Annotated[str, typer.Argument(help="A file with one text per line, or - for standard input.")] = "-",
    model: Annotated[Path | None, typer.Option(help="Model folder or registered version; default: active.")] = None,
    lexicon: Annotated[bool, typer.Option("--lexicon", help="Score with the lexicon instead of the model.")] = False,
) -> None:
    """Texts (one per line) → one JSON object per line: label, score, negative_probability, model_version,
    probabilities (negative/neutral/positive, from a three-way model), emotion (angry, sad, fear, surprise,
    happy, neutral) with emotion_name (愤怒, 失望, 焦虑, 惊讶, 满意, 中性) and, from a model that reads
    emotions, emotion_probability and emotion_probabilities."""
    from nlp.config import SentimentConfig
    from nlp.normalize import normalize
    from nlp.readers.encoding import decode_bytes, split_lines

    config = SentimentConfig()
    try:
        data = sys.stdin.buffer.read() if source == "-" else _read_bytes(Path(source))
        text, _encoding = decode_bytes(data, "<stdin>" if source == "-" else source)
        scorer = _scorer_or_lexicon(model, lexicon, config)
    except KeshengError as error:
        raise _fail(error) from None
    texts = split_lines(text)
    if texts and texts[-1] == "":
        texts.pop()  # the final newline ends the last line; it does not start another
    normalized = [normalize(t) for t in texts]
    sentiments = scorer.score(normalized)
    for sentiment, emotion in zip(sentiments, _emotions(sentiments, normalized, scorer), strict=True):
        typer.echo(json.dumps(_score_line(sentiment, emotion), ensure_ascii=False))


@app.command()
def evaluate(
    data: Annotated[
        Path,
        typer.Option(
            help="CSV/TSV with a text column and a label column (0/1, 1 = positive; or three-way "
            "negative/neutral/positive, 负面/中性/正面, 0/1/2 in a file with a 2), an emotion column "
            "(emotion/情绪: angry…neutral or 愤怒…中性), or both."
        ),
    ],
    model: Annotated[Path | None, typer.Option(help="Model folder or registered version; default: active.")] = None,
    lexicon: Annotated[bool, typer.Option("--lexicon", help="Evaluate the lexicon scorer.")] = False,
    out: Annotated[Path | None, typer.Option(help="Folder for report.json, report.md and report.html.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Accuracy, macro-F1, ROC-AUC and the confusion matrix of a sentiment model on labelled data; for
    three-way labels and emotions also their accuracy, macro-F1, per-class figures and confusion matrices."""
    from models.evaluate import write_report
    from nlp.config import SentimentConfig
    from training.report import evaluate_sets

    config = SentimentConfig()
    try:
        full = evaluate_sets(_scorer_or_lexicon(model, lexicon, config), {data.stem: data})
    except KeshengError as error:
        raise _fail(error) from None
    report = full.sets[0].evaluation
    if out is not None:
        write_report(report, out)
        # The HTML adds the calibration curve (training.report).
        (out / "report.html").write_text(full.to_html(), encoding="utf-8")
    typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) if as_json else report.to_markdown())


models_cmd.register(app)  # train, models list|compare|promote|rollback
serve_cmd.register(app)  # serve, worker, keys create|list|revoke
labels_cmd.register(app)  # labels export|suggest
secrets_cmd.register(app)  # secrets new-key|rotate


@app.callback()
def _startup() -> None:
    # jieba announces every dictionary load at DEBUG level on its own logger, which it configures at
    # import; keep the CLI output clean.
    import jieba

    jieba.setLogLevel(logging.WARNING)


def main() -> None:
    app()
