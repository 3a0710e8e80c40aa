"""`kesheng analyze` as a function: files → results, demand heatmap and alerts in an output folder.

The order is the contract's: read and validate every input first (a rejected file writes nothing),
run the pipeline, find demand themes over the whole batch, then write results, heatmap, alerts and
the report.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from nlp.errors import RowProblem
from nlp.files import write_lines_atomic, write_text_atomic
from nlp.pipeline import Pipeline
from nlp.schema import Item, Result


@dataclass(frozen=True)
class AnalyzeOptions:
    kind: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    dimension: str = "tier"
    rules: Path | None = None
    alert_state: Path | None = None
    batch_size: int = 64


@dataclass(frozen=True)
class Inputs:
    items: list[Item]
    problems: list[RowProblem]
    reports: list[dict[str, Any]]


def read_inputs(paths: Sequence[Path], options: AnalyzeOptions) -> Inputs:
    """Every input read and validated; raises on the first file that cannot be read at all."""
    from nlp.readers import read_path

    items: list[Item] = []
    problems: list[RowProblem] = []
    reports: list[dict[str, Any]] = []
    for path in paths:
        outcome = read_path(path, kind=options.kind, columns=options.columns or None)  # type: ignore[arg-type]
        items.extend(outcome.items)
        problems.extend(outcome.problems)
        reports.append(outcome.report)
    return Inputs(items, problems, reports)


def _write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, ensure_ascii=False, indent=1) + "\n")


def _score(pipeline: Pipeline, items: list[Item], batch_size: int) -> list[Result]:
    from tqdm import tqdm

    with tqdm(total=len(items), unit="item", desc="analyze", file=sys.stderr, disable=None) as bar:
        results = []
        for result in pipeline.pipe(items, batch_size=batch_size):
            results.append(result)
            bar.update(1)
    return results


def analyze(
    inputs: Inputs,
    pipeline: Pipeline,
    out: Path,
    options: AnalyzeOptions,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run the whole analysis and write DIR/{results.jsonl, heatmap.*, trend.png, alerts.json, report.json}.

    Returns the report (also written to report.json).
    """
    from api.webhook import deliver, target_from_settings
    from kesheng.alerts_store import rules_or_default, run_alerts, with_theme_departments
    from kesheng.render import write_heatmap_files
    from nlp.heatmap import build_heatmap, build_trend
    from nlp.taxonomy import load_taxonomy
    from nlp.themes import ThemeModel

    now = now or datetime.now(UTC)
    rules = rules_or_default(options.rules)  # validated before the long work starts
    target = target_from_settings(rules.webhook)
    out.mkdir(parents=True, exist_ok=True)

    results = _score(pipeline, inputs.items, options.batch_size)
    taxonomy = load_taxonomy()
    themes = ThemeModel(taxonomy, tokenizer=pipeline.tokenizer)
    results = themes.fit_transform(results) if results else results
    theme_list = themes.themes_ if results else []

    write_lines_atomic(out / "results.jsonl", (json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results))
    heatmap_files = write_heatmap_files(
        build_heatmap(results, theme_list, options.dimension), build_trend(results, theme_list), out
    )
    rules = with_theme_departments(rules, {t.id: t.department for t in taxonomy.themes})
    sender: Callable[..., Any] | None = partial(deliver, target=target) if target is not None else None
    alerts = run_alerts(results, rules, options.alert_state, now, deliver=sender)
    _write_json_atomic(out / "alerts.json", [a.to_dict() for a in alerts])

    report = {
        "inputs": inputs.reports,
        "items": len(results),
        "labels": dict(Counter(r.sentiment.label for r in results)),
        "model_version": pipeline.scorer.version,
        "dimension": options.dimension,
        "themes": [t.to_dict() for t in theme_list],
        "alerts": dict(Counter(a.status for a in alerts)),
        "problems": [p.to_dict() for p in inputs.problems],
        "outputs": [str(p) for p in [out / "results.jsonl", *heatmap_files, out / "alerts.json"]],
    }
    _write_json_atomic(out / "report.json", report)
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
    yield "outputs:"
    for path in report["outputs"]:
        yield f"  {path}"
