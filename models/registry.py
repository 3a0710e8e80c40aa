"""The model registry: versioned sentiment model folders, one of them active.

Layout of a registry root (by default ``$KESHENG_HOME/models``, see ``models.home``)::

    <root>/active.json            the active version, the stack of previously active ones (for
                                  rollback), a generation counter and an event log; replaced atomically
    <root>/<version>/             a registered version: model.onnx, tokenizer.json, manifest.json
                                  (parent version, data hashes, config, metrics, library versions,
                                  created time), MODEL_CARD.md, report.{md,html,json}, and weights/
                                  (the torch checkpoint as safetensors, so a retrain can start from it)
    <root>/.evaluations/<v>.json  golden-set figures of version v, keyed by the golden file's sha256

The committed default model (``models/default``) is the built-in first version: referenced in place,
never copied, never written. Without active.json it is the active version.

Promotion is gated (``GateConfig``): the candidate and the active version are scored on the golden
evaluation sets, and a candidate worse than the active one by more than the margin on any set and
metric is refused unless forced. Everything that lists, loads, promotes or rolls back a model — the
CLI, the HTTP service and the training code — goes through ``Registry``.

A running service notices a change of the active version through ``Registry.generation()`` (one small
file read) and reloads; see ``models.hotswap``. The values it returns are in ``models.versions`` and
``models.gate``; the golden-set figures come from ``models.evaluate``.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models import DEFAULT_MODEL_DIR
from models.gate import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    Comparison,
    GateConfig,
    MetricDelta,
    PromotionResult,
    registry_config_path,
)
from models.home import default_registry_root
from models.versions import (
    MANIFEST_FILE,
    REQUIRED_FILES,
    VERSION_PATTERN,
    WEIGHTS_DIR,
    ActiveState,
    ModelVersion,
    read_json,
)
from nlp.errors import ConfigError, ModelError
from nlp.files import sha256_file, write_json_atomic

if TYPE_CHECKING:
    from models.evaluate import EvalReport
    from nlp.config import SentimentConfig
    from nlp.sentiment.transformer import TransformerScorer

ACTIVE_FILE = "active.json"
LOCK_FILE = ".lock"
EVALUATIONS_DIR = ".evaluations"
# Events kept in active.json: enough to audit a service's recent model changes, small enough to rewrite.
MAX_EVENTS = 200
# The registry is read by the service, maybe as another user than the CLI that wrote it.
FILE_MODE = 0o644


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json_atomic(path: Path, data: Any) -> None:
    """Registry JSON: indented by two, readable by a service running as another user."""
    write_json_atomic(path, data, indent=2, mode=FILE_MODE)


# ---- the registry ----------------------------------------------------------------------------
class Registry:
    """Versioned model folders under `root`, plus the built-in default model; one version is active."""

    def __init__(
        self,
        root: Path,
        *,
        builtin: Path | None = DEFAULT_MODEL_DIR,
        gate: GateConfig | None = None,
        config: Path = DEFAULT_CONFIG,
    ) -> None:
        """`root` is a writable folder (created on first write); `builtin` the read-only first version
        (None: none); `gate` the promotion gate, else read from `config` when first needed."""
        self.root = root
        self.builtin = builtin if builtin is not None and (builtin / MANIFEST_FILE).is_file() else None
        self.config = config
        self._gate = gate

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Registry:
        """The registry of this user or service: root from `default_registry_root`, gate from
        `registry_config_path` ($KESHENG_HOME, $KESHENG_REGISTRY_CONFIG)."""
        return cls(default_registry_root(environ), config=registry_config_path(environ))

    @property
    def gate(self) -> GateConfig:
        """The promotion gate (read from the config file on first use when none was given)."""
        if self._gate is None:
            self._gate = GateConfig.load(self.config)
        return self._gate

    # ---- reading ---------------------------------------------------------------------------
    def _builtin_version(self) -> ModelVersion | None:
        if self.builtin is None:
            return None
        manifest = read_json(self.builtin / MANIFEST_FILE)
        return ModelVersion(str(manifest.get("version", "")), self.builtin, manifest, builtin=True)

    def _registered(self) -> list[ModelVersion]:
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and VERSION_PATTERN.match(folder.name) and (folder / MANIFEST_FILE).is_file():
                out.append(ModelVersion(folder.name, folder, read_json(folder / MANIFEST_FILE), builtin=False))
        return sorted(out, key=lambda v: (str(v.manifest.get("registered", "")), v.version))

    def state(self) -> ActiveState:
        """The active pointer; the built-in version with generation 0 before anything was promoted."""
        path = self.root / ACTIVE_FILE
        if not path.is_file():
            builtin = self._builtin_version()
            if builtin is None:
                raise ModelError(f"{path}: no active model and no built-in default model")
            return ActiveState(builtin.version)
        data = read_json(path)
        version, history = data.get("active"), data.get("history", [])
        if not isinstance(version, str) or not isinstance(history, list):
            raise ModelError(f"{path}: keys 'active' (string) and 'history' (list) are required")
        return ActiveState(
            version,
            tuple(str(v) for v in history),
            int(data.get("generation", 0)),
            data.get("changed"),
            tuple(data.get("events", [])),
        )

    def generation(self) -> int:
        """A counter that grows with every promotion and rollback: cheap to poll for hot swap."""
        return self.state().generation

    def list_versions(self) -> list[ModelVersion]:
        """Every version, the built-in one first, then registered ones in registration order."""
        active = self.state().version
        versions = [v for v in [self._builtin_version(), *self._registered()] if v is not None]
        return [ModelVersion(v.version, v.path, v.manifest, v.builtin, v.version == active) for v in versions]

    def get(self, version: str) -> ModelVersion:
        """One version by name; ModelError lists the known ones."""
        versions = self.list_versions()
        for v in versions:
            if v.version == version:
                return v
        known = ", ".join(v.version for v in versions) or "none"
        raise ModelError(f"unknown model version {version!r} in {self.root} (known: {known})")

    def active(self) -> ModelVersion:
        """The active version."""
        state = self.state()
        try:
            return self.get(state.version)
        except ModelError as error:
            raise ModelError(f"{self.root / ACTIVE_FILE}: the active version is missing: {error}") from error

    def load_scorer(
        self, version: str | None = None, config: SentimentConfig | None = None, *, threads: int | None = None
    ) -> TransformerScorer:
        """Load a version (default: the active one) as a TransformerScorer."""
        from nlp.sentiment.transformer import TransformerScorer

        folder = (self.active() if version is None else self.get(version)).path
        return TransformerScorer.load(folder, config, threads=threads)

    # ---- registering ------------------------------------------------------------------------
    def next_version_name(self, day: datetime | None = None) -> str:
        """``v<YYYYMMDD>-<n>``, n one more than the day's highest: sortable and never reused."""
        stamp = (day or datetime.now(UTC)).strftime("%Y%m%d")
        taken = {v.version for v in self.list_versions()}
        if self.root.is_dir():
            taken.update(p.name for p in self.root.iterdir())
        n = 1
        while f"v{stamp}-{n}" in taken:
            n += 1
        return f"v{stamp}-{n}"

    def register(
        self,
        folder: Path,
        *,
        version: str | None = None,
        parent: str | None = None,
        manifest_updates: Mapping[str, Any] | None = None,
        check: bool = True,
    ) -> ModelVersion:
        """Copy a model folder into the registry as a new version (not active). The manifest's
        `version` becomes the registered name; `parent_version` and `registered` are recorded.
        With `check`, the copy is loaded and run once before it becomes visible."""
        for name in REQUIRED_FILES:
            if not (folder / name).is_file():
                raise ModelError(f"{folder / name}: missing; a model folder needs {', '.join(REQUIRED_FILES)}")
        version = version or self.next_version_name()
        if not VERSION_PATTERN.match(version):
            raise ModelError(f"{version!r}: a version name is 1-64 letters, digits, '.', '_' or '-'")
        with self._locked():
            if version in {v.version for v in self.list_versions()} or (self.root / version).exists():
                raise ModelError(f"model version {version!r} already exists in {self.root}")
            tmp = self.root / f".{version}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(folder, tmp)
            try:
                manifest = read_json(tmp / MANIFEST_FILE)
                manifest.update(manifest_updates or {})
                manifest["version"] = version
                manifest["parent_version"] = parent if parent is not None else manifest.get("parent_version")
                # Microseconds: versions are listed in registration order, even within one second.
                manifest["registered"] = datetime.now(UTC).isoformat(timespec="microseconds")
                _write_json_atomic(tmp / MANIFEST_FILE, manifest)
                if check:
                    from nlp.sentiment.transformer import TransformerScorer

                    TransformerScorer.load(tmp, threads=1)
                tmp.rename(self.root / version)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return self.get(version)

    # ---- golden sets and the gate -----------------------------------------------------------
    def store_evaluation(self, version: str, golden_set: str, report: EvalReport) -> None:
        """Cache a version's figures on a golden set (keyed by the file's sha256)."""
        with self._locked():
            path = self.root / EVALUATIONS_DIR / f"{version}.json"
            cache = read_json(path) if path.is_file() else {}
            cache[golden_set] = {
                "file": report.data,
                "sha256": report.data_sha256,
                "n": report.n,
                "accuracy": report.accuracy,
                "macro_f1": report.macro_f1,
                "roc_auc": report.roc_auc,
            }
            _write_json_atomic(path, cache)

    def golden_metrics(self, version: str) -> dict[str, dict[str, Any]]:
        """A version's figures on every golden set of the gate: cached, computed when missing or stale."""
        from models.evaluate import evaluate

        self.get(version)  # unknown versions fail here, before anything is scored
        path = self.root / EVALUATIONS_DIR / f"{version}.json"
        scorer: TransformerScorer | None = None
        out: dict[str, dict[str, Any]] = {}
        for name, golden in self.gate.golden.items():
            if not golden.is_file():
                raise ConfigError(f"{golden}: golden set {name!r} of the promotion gate not found")
            cache = read_json(path) if path.is_file() else {}
            cached = cache.get(name)
            if not (isinstance(cached, dict) and cached.get("sha256") == sha256_file(golden)):
                scorer = scorer or self.load_scorer(version)
                self.store_evaluation(version, name, evaluate(scorer, golden))
                cached = read_json(path)[name]
            out[name] = cached
        return out

    def compare(self, candidate: str, baseline: str | None = None) -> Comparison:
        """Candidate against `baseline` (default: the active version) on the golden sets."""
        baseline = baseline or self.state().version
        ours, theirs = self.golden_metrics(candidate), self.golden_metrics(baseline)
        deltas = []
        for name in self.gate.golden:
            for metric in self.gate.metrics:
                a, b = ours[name].get(metric), theirs[name].get(metric)
                if a is None or b is None:  # roc_auc of a one-class set
                    continue
                deltas.append(MetricDelta(name, metric, float(a), float(b), int(ours[name]["n"])))
        return Comparison(candidate, baseline, self.gate.margin_points, tuple(deltas))

    # ---- changing the active version ---------------------------------------------------------
    def promote(self, version: str, *, force: bool = False, actor: str = "") -> PromotionResult:
        """Make `version` active if the gate passes (or `force`); the previous one goes on the
        rollback stack. A refusal changes nothing and says which figures failed."""
        self.get(version)
        before = self.state()
        if before.version == version:
            return PromotionResult(version, before.version, False, force, f"{version} is already the active version")
        comparison = self.compare(version, before.version)  # slow part, outside the lock
        if not comparison.passed and not force:
            worst = ", ".join(f"{d.golden_set} {d.metric} {d.delta_points:+.2f} pt" for d in comparison.failures)
            reason = (
                f"refused: {version} is worse than {before.version} by more than "
                f"{comparison.margin_points:g} pt on {worst}; promote with force to override the gate"
            )
            return PromotionResult(version, before.version, False, False, reason, comparison)
        with self._locked():
            state = self.state()
            if state.generation != before.generation:
                raise ModelError(f"the active version changed to {state.version} during the gate; promote again")
            self._write_state(state, version, [*state.history, state.version], "promote", forced=force, actor=actor)
        reason = "promoted" if comparison.passed else "promoted by force despite the gate"
        return PromotionResult(version, before.version, True, force, reason, comparison)

    def rollback(self, *, actor: str = "") -> ActiveState:
        """Return to the previously active version; ModelError when there is none."""
        with self._locked():
            state = self.state()
            if not state.history:
                raise ModelError(f"{self.root / ACTIVE_FILE}: no previous version to roll back to")
            *rest, previous = state.history
            self.get(previous)
            return self._write_state(state, previous, rest, "rollback", forced=False, actor=actor)

    def _write_state(
        self, state: ActiveState, version: str, history: Sequence[str], action: str, *, forced: bool, actor: str
    ) -> ActiveState:
        changed = _now()
        event = {"action": action, "version": version, "previous": state.version, "forced": forced, "at": changed}
        if actor:
            event["actor"] = actor
        new = ActiveState(version, tuple(history), state.generation + 1, changed, (*state.events, event)[-MAX_EVENTS:])
        _write_json_atomic(
            self.root / ACTIVE_FILE,
            {
                "active": new.version,
                "history": list(new.history),
                "generation": new.generation,
                "changed": new.changed,
                "events": list(new.events),
            },
        )
        return new

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the registry, across processes (the CLI and a running service)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


__all__ = [
    "ACTIVE_FILE",
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "VERSION_PATTERN",
    "WEIGHTS_DIR",
    "ActiveState",
    "Comparison",
    "GateConfig",
    "MetricDelta",
    "ModelVersion",
    "PromotionResult",
    "Registry",
    "default_registry_root",
    "registry_config_path",
]
