"""models.registry: versions, registration, the promotion gate, rollback, the atomic pointer, hot swap.

Two tiny random models (tests/conftest.py, seeds 0 and 1) stand in for the built-in and a candidate.
To know which is better on a golden set without hard-coding figures, the golden labels are one
model's own predictions: that model scores 100 % and the other loses exactly where they disagree."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
from pathlib import Path

import pytest

import models as models_package
import training
from models.evaluate import evaluate
from models.hotswap import ActiveScorer
from models.registry import (
    ACTIVE_FILE,
    DEFAULT_CONFIG,
    GateConfig,
    Registry,
    default_registry_root,
)
from nlp.errors import ConfigError, ModelError
from nlp.normalize import normalize
from nlp.resources import data_path
from nlp.sentiment.transformer import TransformerScorer
from tests.conftest import TINY_VERSION, build_tiny_model

GOLDEN_TEXTS = [
    "物流很快，包装完好，好评",
    "客服回复及时，问题当天就解决了",
    "净水器安装后水质明显变好",
    "外卖送到时还是热的，分量足",
    "酒店前台态度热情，房间干净",
    "价格实惠，质量也不错",
    "耳机音质很好，佩戴舒服",
    "师傅上门很准时，收费透明",
    "退款到账很快，服务贴心",
    "书的纸张很好，印刷清晰",
    "等了一个小时外卖还没到",
    "扫地机器人用了三天就坏了",
    "客服电话永远打不通",
    "房间有霉味，空调还漏水",
    "收到的衣服有污渍，退货还要自己出运费",
    "手机发热严重，电池不耐用",
    "说好的赠品一直没发",
    "菜太咸了，根本吃不下",
    "安装师傅迟到两个小时还乱收费",
    "投诉了三次都没人处理",
]


def write_golden(path: Path, model: Path) -> Path:
    """A golden TSV labelled with `model`'s own predictions (p_negative >= 0.5 → 0)."""
    scorer = TransformerScorer.load(model, threads=1)
    p_negative = scorer.negative_probabilities([normalize(t) for t in GOLDEN_TEXTS])
    rows = [f"{0 if p >= 0.5 else 1}\t{t}" for p, t in zip(p_negative, GOLDEN_TEXTS, strict=True)]
    path.write_text("label\ttext\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(built-in, candidate): two tiny random models that disagree on some golden texts."""
    base = tmp_path_factory.mktemp("models")
    return build_tiny_model(base / "builtin", seed=0), build_tiny_model(base / "candidate", seed=1)


def make_registry(tmp_path: Path, builtin: Path, golden: Path, margin: float = 1.0) -> Registry:
    gate = GateConfig({"mixed": golden}, margin_points=margin, metrics=("accuracy", "macro_f1"))
    return Registry(tmp_path / "registry", builtin=builtin, gate=gate)


def test_the_builtin_model_is_the_first_active_version(tmp_path: Path, models: tuple[Path, Path]) -> None:
    builtin, _ = models
    registry = make_registry(tmp_path, builtin, tmp_path / "unused.tsv")
    (only,) = registry.list_versions()
    assert (only.version, only.builtin, only.active, only.path) == (TINY_VERSION, True, True, builtin)
    assert registry.active().version == TINY_VERSION
    assert registry.generation() == 0
    assert only.checkpoint is None
    assert registry.load_scorer().version == TINY_VERSION
    assert not registry.root.exists()  # reading never writes


def test_register_copies_names_and_records_the_parent(tmp_path: Path, models: tuple[Path, Path]) -> None:
    builtin, candidate = models
    registry = make_registry(tmp_path, builtin, tmp_path / "unused.tsv")
    before = (candidate / "manifest.json").read_text(encoding="utf-8")
    first = registry.register(candidate, parent=TINY_VERSION)
    second = registry.register(candidate, version="tiny-ft-2", parent=first.version)
    assert first.version.startswith("v") and first.version.endswith("-1")
    assert first.path == registry.root / first.version and not first.active
    assert first.parent_version == TINY_VERSION and second.parent_version == first.version
    assert json.loads((first.path / "manifest.json").read_text())["version"] == first.version
    assert (candidate / "manifest.json").read_text(encoding="utf-8") == before  # the source is untouched
    assert [v.version for v in registry.list_versions()] == [TINY_VERSION, first.version, "tiny-ft-2"]
    assert registry.load_scorer(first.version).version == first.version
    assert registry.next_version_name().endswith("-2")
    assert registry.active().version == TINY_VERSION  # registering never promotes


@pytest.mark.parametrize(
    ("version", "remove", "message"),
    [
        (TINY_VERSION, None, "already exists"),
        ("../escape", None, "a version name is"),
        (".hidden", None, "a version name is"),
        ("ok-name", "model.onnx", r"model\.onnx: missing"),
        ("ok-name", "tokenizer.json", r"tokenizer\.json: missing"),
    ],
)
def test_register_refuses_bad_names_and_folders(
    tmp_path: Path, models: tuple[Path, Path], version: str, remove: str | None, message: str
) -> None:
    builtin, candidate = models
    folder = tmp_path / "copy"
    shutil.copytree(candidate, folder)
    if remove:
        (folder / remove).unlink()
    registry = make_registry(tmp_path, builtin, tmp_path / "unused.tsv")
    with pytest.raises(ModelError, match=message):
        registry.register(folder, version=version)
    assert [v.version for v in registry.list_versions()] == [TINY_VERSION]
    assert not registry.root.exists() or not [p for p in registry.root.iterdir() if p.name.endswith(".tmp")]


def test_gate_refuses_a_worse_candidate_and_shows_the_numbers(tmp_path: Path, models: tuple[Path, Path]) -> None:
    builtin, candidate = models
    golden = write_golden(tmp_path / "golden.tsv", builtin)
    registry = make_registry(tmp_path, builtin, golden, margin=1.0)
    version = registry.register(candidate).version
    expected = evaluate(TransformerScorer.load(candidate, threads=1), golden).accuracy
    assert expected < 0.99, "precondition: the two random models disagree on some golden text"

    result = registry.promote(version)
    assert not result.promoted and not result.forced
    assert result.comparison is not None
    (accuracy,) = [d for d in result.comparison.deltas if d.metric == "accuracy"]
    assert accuracy.baseline == pytest.approx(1.0)
    assert accuracy.candidate == pytest.approx(expected)
    assert f"mixed accuracy {100 * (expected - 1):+.2f} pt" in result.reason
    assert "refused" in result.reason and "force" in result.reason
    assert registry.active().version == TINY_VERSION and registry.generation() == 0
    assert "✗" in result.comparison.table()

    forced = registry.promote(version, force=True, actor="test")
    assert forced.promoted and forced.forced and forced.previous == TINY_VERSION
    state = registry.state()
    assert (state.version, state.history, state.generation) == (version, (TINY_VERSION,), 1)
    assert state.events[-1]["forced"] is True and state.events[-1]["actor"] == "test"
    assert [v.version for v in registry.list_versions() if v.active] == [version]


def test_gate_passes_a_better_candidate_then_rollback(tmp_path: Path, models: tuple[Path, Path]) -> None:
    builtin, candidate = models
    golden = write_golden(tmp_path / "golden.tsv", candidate)
    registry = make_registry(tmp_path, builtin, golden)
    version = registry.register(candidate).version
    result = registry.promote(version)
    assert result.promoted and not result.forced and result.comparison is not None and result.comparison.passed
    assert registry.active().version == version
    assert registry.load_scorer().version == version
    again = registry.promote(version)
    assert not again.promoted and "already the active version" in again.reason

    state = registry.rollback()
    assert (state.version, state.history, state.generation) == (TINY_VERSION, (), 2)
    assert registry.active().version == TINY_VERSION
    with pytest.raises(ModelError, match="no previous version to roll back to"):
        registry.rollback()


def test_golden_figures_are_cached_by_file_hash(
    tmp_path: Path, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    builtin, _ = models
    golden = write_golden(tmp_path / "golden.tsv", builtin)
    registry = make_registry(tmp_path, builtin, golden)
    first = registry.compare(TINY_VERSION, TINY_VERSION)
    assert first.passed and all(d.delta_points == 0 for d in first.deltas)

    def no_scoring(*args: object, **kwargs: object) -> TransformerScorer:
        raise AssertionError("cached figures must be used")

    monkeypatch.setattr(Registry, "load_scorer", no_scoring)
    assert registry.golden_metrics(TINY_VERSION)["mixed"]["n"] == len(GOLDEN_TEXTS)
    golden.write_text(golden.read_text(encoding="utf-8") + "1\t很满意的一次购物\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="cached figures must be used"):
        registry.golden_metrics(TINY_VERSION)  # the file changed: figures are recomputed


def test_the_active_pointer_is_replaced_atomically(
    tmp_path: Path, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    builtin, candidate = models
    golden = write_golden(tmp_path / "golden.tsv", candidate)
    registry = make_registry(tmp_path, builtin, golden)
    first, second = registry.register(candidate).version, registry.register(candidate).version
    registry.promote(first)
    pointer = registry.root / ACTIVE_FILE
    before = pointer.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        registry.promote(second, force=True)
    assert pointer.read_bytes() == before
    assert not [p.name for p in registry.root.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert registry.active().version == first
    assert oct(pointer.stat().st_mode & 0o777) == oct(0o644)


def test_a_broken_pointer_is_an_error_naming_the_file(tmp_path: Path, models: tuple[Path, Path]) -> None:
    builtin, _ = models
    registry = make_registry(tmp_path, builtin, tmp_path / "unused.tsv")
    registry.root.mkdir(parents=True)
    (registry.root / ACTIVE_FILE).write_text('{"active": "gone", "history": []}', encoding="utf-8")
    with pytest.raises(ModelError, match=r"active\.json: the active version is missing.*unknown model version 'gone'"):
        registry.active()
    (registry.root / ACTIVE_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"active\.json: not a readable JSON file"):
        registry.active()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"golden": {"a": "a.tsv"}, "margn_points": 1},
            "registry.toml: gate.margn_points = 1: is not a known setting (E200)",
        ),
        ({"golden": {}}, "registry.toml: gate.golden = {}: must name at least one golden set (name = labelled file)"),
        (
            {"golden": {"a": "a.tsv"}, "margin_points": -1},
            "registry.toml: gate.margin_points = -1: must be >= 0 (E200)",
        ),
        (
            {"golden": {"a": "a.tsv"}, "margin_points": True},
            "registry.toml: gate.margin_points = True: must be a number",
        ),
        (
            {"golden": {"a": "a.tsv"}, "metrics": ["precision"]},
            "registry.toml: gate.metrics = 'precision': must be one of accuracy, macro_f1, roc_auc",
        ),
        ({"golden": {"a": "a.tsv"}, "metrics": []}, "registry.toml: gate.metrics = []: must name at least one of"),
        ({"golden": {"a": ""}}, "registry.toml: gate.golden.a = '': must be a non-empty string"),
        ({"margin_points": 1}, "registry.toml: gate.golden = None: is required"),
    ],
)
def test_gate_config_errors_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        GateConfig.from_dict(table, "registry.toml", Path("/repo"))


def test_golden_paths_start_at_the_root_or_the_own_config_folder(tmp_path: Path) -> None:
    table = {"golden": {"外卖": "golden/waimai.tsv", "abs": "/data/jd.tsv"}, "margin_points": 2}
    gate = GateConfig.from_dict(table, "registry.toml", Path("/repo"))
    assert gate.golden == {"外卖": Path("/repo/golden/waimai.tsv"), "abs": Path("/data/jd.tsv")}
    assert (gate.margin_points, gate.metrics) == (2.0, ("accuracy", "macro_f1"))
    own = tmp_path / "mine.toml"
    own.write_text('[gate]\nmetrics = ["roc_auc"]\n[gate.golden]\n"外卖" = "waimai.tsv"\n', encoding="utf-8")
    assert GateConfig.load(own) == GateConfig({"外卖": tmp_path / "waimai.tsv"}, 1.0, ("roc_auc",))


def test_the_shipped_gate_config_points_at_existing_golden_sets() -> None:
    gate = GateConfig.load()
    assert gate.margin_points > 0 and "accuracy" in gate.metrics
    assert gate.golden and all(path.is_file() for path in gate.golden.values())
    # The bundled golden samples, found as package data (a wheel has no repository around it).
    assert {path.parent for path in gate.golden.values()} == {data_path("samples", "golden")}
    assert DEFAULT_CONFIG.parent.parent == Path(training.__file__).parent


def test_models_import_nothing_from_the_layers_above() -> None:
    """models sits below training, the service and the CLI: none of its modules imports them."""
    above = {"training", "api", "kesheng"}
    for module in Path(models_package.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not [n for n in names if n.split(".")[0] in above], f"{module.name} imports {names}"


def test_a_missing_golden_file_is_a_config_error(tmp_path: Path, models: tuple[Path, Path]) -> None:
    builtin, _ = models
    registry = make_registry(tmp_path, builtin, tmp_path / "missing.tsv")
    with pytest.raises(ConfigError, match=r"missing\.tsv: golden set 'mixed'"):
        registry.compare(TINY_VERSION)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"KESHENG_HOME": "/srv/kesheng", "XDG_DATA_HOME": "/x"}, Path("/srv/kesheng/models")),
        ({"XDG_DATA_HOME": "/x"}, Path("/x/kesheng/models")),
        ({}, Path.home() / ".local/share/kesheng/models"),
    ],
)
def test_default_registry_root(environ: dict[str, str], expected: Path) -> None:
    assert default_registry_root(environ) == expected


def test_hot_swap_follows_promotion_and_rollback(tmp_path: Path, models: tuple[Path, Path]) -> None:
    builtin, candidate = models
    golden = write_golden(tmp_path / "golden.tsv", candidate)
    registry = make_registry(tmp_path, builtin, golden)
    version = registry.register(candidate).version
    active = ActiveScorer(registry, threads=1, check_every=0.0)
    old = active.get()
    assert old.version == TINY_VERSION

    registry.promote(version)
    new = active.get()
    assert new.version == version and active.version == version
    # A request still holding the old scorer finishes with it and says so.
    assert old.score(["快递太慢了"])[0].model_version == TINY_VERSION
    assert new.score(["快递太慢了"])[0].model_version == version

    registry.rollback()
    assert active.get().version == TINY_VERSION
    # A broken version is not swapped in: the old one keeps serving, and the error is kept.
    (registry.get(version).path / "model.onnx").write_bytes(b"not onnx")
    registry.promote(version, force=True)
    assert active.get().version == TINY_VERSION
    assert active.last_error is not None and "model.onnx" in active.last_error


def test_hot_swap_checks_at_most_every_interval(tmp_path: Path, models: tuple[Path, Path]) -> None:
    builtin, candidate = models
    registry = make_registry(tmp_path, builtin, write_golden(tmp_path / "golden.tsv", candidate))
    version = registry.register(candidate).version
    now = [100.0]
    active = ActiveScorer(registry, threads=1, check_every=5.0, clock=lambda: now[0])
    registry.promote(version)
    now[0] += 4.0
    assert active.get().version == TINY_VERSION
    now[0] += 1.0
    assert active.get().version == version
