"""`kesheng analyze` as a function: files → results, demand heatmap, alerts and the follow-up list in an
output folder, streamed.

The order is the contract's: every input is read and validated first (a rejected file writes nothing);
then results are scored as a stream and spooled beside the outputs while a bounded sample of them is
kept; the themes are fitted on that sample (discovered ones keep their ids from the catalogue of
earlier runs); the spool is read back chunk by chunk, each result gets its themes, is written to
results.jsonl and added to the heatmap, trend and alert aggregates. Memory does not grow with the input
(but for the follow-up list: a few fields for each answer it lists).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from nlp.alerts import theme_labels
from nlp.analysis import Analysis
from nlp.errors import InputError, Location, RowProblem
from nlp.files import atomic_writer, write_json_atomic
from nlp.readers import ItemStream
from nlp.schema import Item, Result, result_from_dict
from nlp.sentiment import SentimentScorer
from nlp.themes import ThemeCatalog


@dataclass(frozen=True)
class AnalyzeOptions:
    kind: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    dimension: str = "tier"
    alert_state: Path | None = None
    # The catalogue of discovered themes kept between runs (stable ids); None: every run starts afresh.
    theme_state: Path | None = None
    batch_size: int = 64


@dataclass(frozen=True)
class Inputs:
    """The validated inputs: how each was read, its bad rows, and how to read its items again."""

    paths: tuple[Path, ...]
    options: AnalyzeOptions
    items: int
    problems: list[RowProblem]
    reports: list[dict[str, Any]]

    def stream(self) -> Iterator[Item]:
        """Every input's items again, in order, read as they are used (validated by `read_inputs`)."""
        for path in self.paths:
            with _open(path, self.options) as items:
                yield from items


def _open(path: Path, options: AnalyzeOptions) -> ItemStream:
    from nlp.readers import iter_path

    return iter_path(path, kind=options.kind, columns=options.columns or None)  # type: ignore[arg-type]


def read_inputs(paths: Sequence[Path], options: AnalyzeOptions) -> Inputs:
    """Every input read to its end and validated (the items are counted, not kept); raises on the
    first file that cannot be read at all."""
    problems: list[RowProblem] = []
    reports: list[dict[str, Any]] = []
    count = 0
    for path in paths:
        with _open(path, options) as items:
            for _ in items:
                count += 1
            problems.extend(items.take_problems())
            reports.append(items.report)
    return Inputs(tuple(paths), options, count, problems, reports)


def load_catalog(path: Path | None) -> ThemeCatalog:
    """The saved catalogue of discovered themes; empty when there is none yet."""
    if path is None:
        return ThemeCatalog()
    try:
        return ThemeCatalog.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return ThemeCatalog()
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(Location(str(path)), f"not a kesheng theme state file: {error}") from error


def _spool(results: Iterable[Result], folder: Path, offer: Callable[[Result], None]) -> Path:
    """Write results to a temporary JSONL file in `folder` as they come, offering each to the sampler."""
    handle, name = tempfile.mkstemp(prefix=".results.", suffix=".spool", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        for result in results:
            offer(result)
            out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    return Path(name)


def _counted(results: Iterable[Result], bar: Any) -> Iterator[Result]:
    for result in results:
        bar.update(1)
        yield result


def _chunks(path: Path, size: int) -> Iterator[list[Result]]:
    with path.open(encoding="utf-8") as lines:
        while chunk := [result_from_dict(json.loads(line)) for line in islice(lines, size)]:
            yield chunk


def analyze(
    inputs: Inputs,
    analysis: Analysis,
    out: Path,
    options: AnalyzeOptions,
    scorer: SentimentScorer | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run the whole analysis and write DIR/{results.jsonl, heatmap.*, trend.png, alerts.json,
    followups.json, report.json}.

    Returns the report (also written to report.json).
    """
    from tqdm import tqdm

    from api.webhook import deliver, target_from_settings
    from kesheng.alerts_store import record_alerts
    from kesheng.render import write_heatmap_files

    now = now or datetime.now(UTC)
    target = target_from_settings(analysis.rules.webhook)
    out.mkdir(parents=True, exist_ok=True)
    pipeline = analysis.pipeline(scorer)
    sample = analysis.sampler()
    labels: Counter[str] = Counter()
    with tqdm(total=inputs.items, unit="item", desc="analyze", file=sys.stderr, disable=None) as bar:
        spool = _spool(_counted(pipeline.pipe(inputs.stream(), batch_size=options.batch_size), bar), out, sample.offer)
    try:
        fit, catalog = analysis.fit_themes(sample.values).named(load_catalog(options.theme_state))
        aggregates = analysis.aggregates(options.dimension)
        with atomic_writer(out / "results.jsonl") as results_file:
            for chunk in _chunks(spool, 1024):
                for result in fit.apply(chunk):
                    results_file.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
                    aggregates.add(result)
                    labels[result.sentiment.label] += 1
    finally:
        spool.unlink(missing_ok=True)
    if options.theme_state is not None:
        write_json_atomic(options.theme_state, catalog.to_dict())

    themes = list(fit.themes)
    heatmap_files = write_heatmap_files(aggregates.heatmap(themes), aggregates.trend(themes), out)
    sender = partial(deliver, target=target) if target is not None else None
    alerts = record_alerts(partial(aggregates.evaluate, now=now), options.alert_state, deliver=sender)
    write_json_atomic(out / "alerts.json", [a.to_dict() for a in alerts])
    followups = aggregates.followups(now, theme_labels(analysis.taxonomy.themes, catalog.themes, themes))
    write_json_atomic(out / "followups.json", [f.to_dict() for f in followups])

    report = {
        "inputs": inputs.reports,
        "items": aggregates.items,
        "labels": dict(labels),
        "model_version": pipeline.scorer.version,
        "dimension": options.dimension,
        "taxonomy": analysis.taxonomy.source,
        "themes": [t.to_dict() for t in themes],
        "alerts": dict(Counter(a.status for a in alerts)),
        "followups": len(followups),
        "problems": [p.to_dict() for p in inputs.problems],
        "outputs": [
            str(p) for p in [out / "results.jsonl", *heatmap_files, out / "alerts.json", out / "followups.json"]
        ],
    }
    write_json_atomic(out / "report.json", report)
    return report


def summary_lines(report: dict[str, Any]) -> Iterable[str]:
    """What a person reads after a run: counts, per-file formats, bad rows, themes, alerts, where files are."""
    labels = report["labels"]
    yield (
        f"analysed {report['items']} items from {len(report['inputs'])} file(s) with {report['model_version']}: "
        f"{labels.get('negative', 0)} negative, {labels.get('neutral', 0)} neutral, "
        f"{labels.get('positive', 0)} positive"
    )
    for entry in report["inputs"]:
        yield f"  {entry['file']}: {entry['format']}, {entry['encoding']}, {entry['items']} items"
    if report["problems"]:
        yield f"{len(report['problems'])} bad row(s), listed in report.json:"
        for problem in report["problems"][:5]:
            yield f"  {problem['file']}:{problem['row']} [{problem['field']}] {problem['message']}"
    yield f"{len(report['themes'])} demand themes; heatmap by {report['dimension']}"
    alerts = report["alerts"]
    yield f"{sum(alerts.values())} alert(s): " + (", ".join(f"{n} {s}" for s, n in alerts.items()) or "none")
    yield f"{report.get('followups', 0)} follow-up(s) to call back (回访清单, followups.json)"
    yield "outputs:"
    for path in report["outputs"]:
        yield f"  {path}"
