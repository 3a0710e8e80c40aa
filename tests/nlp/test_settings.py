"""nlp.settings: every configuration section read from TOML or the environment by its dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from nlp.config import AnalysisConfig, AspectConfig, HeatmapConfig, ThemeConfig
from nlp.errors import ConfigError
from nlp.resources import data_path
from nlp.settings import Invalid, apply_override, from_mapping, load, read_toml, setting, with_environment


@dataclass(frozen=True)
class _Inner:
    shops: tuple[str, ...] = ("上海店",)
    weight: float = setting(0.5, low=0.0, high=1.0)


@dataclass(frozen=True)
class _Outer:
    name: str = "客声"
    mode: Literal["fast", "exact"] = "fast"
    limit: int = setting(10, low=1)
    folder: Path | None = None
    inner: _Inner = field(default_factory=_Inner)
    owners: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode == "exact" and self.limit > 100:
            raise Invalid("limit", "must be at most 100 in exact mode")


def test_defaults_come_from_the_dataclasses_and_keys_override_them() -> None:
    assert from_mapping(_Outer, {}, "k.toml") == _Outer()
    parsed = from_mapping(_Outer, {"inner": {"weight": 1}, "owners": {"物流": "供应链部"}}, "k.toml")
    assert parsed.inner == _Inner(weight=1.0) and parsed.owners == {"物流": "供应链部"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nmae": "x"}, "k.toml: nmae = 'x': is not a known setting"),
        ({"inner": {"weigth": 0.2}}, "k.toml: inner.weigth = 0.2: is not a known setting"),
        ({"inner": {"weight": 1.5}}, "k.toml: inner.weight = 1.5: must be in [0, 1]"),
        ({"inner": {"shops": "上海店"}}, "k.toml: inner.shops = '上海店': must be a list of non-empty strings"),
        ({"limit": "10"}, "k.toml: limit = '10': must be a whole number"),
        ({"limit": 0}, "k.toml: limit = 0: must be >= 1"),
        ({"limit": True}, "k.toml: limit = True: must be a whole number"),
        ({"mode": "slow"}, "k.toml: mode = 'slow': must be one of fast, exact"),
        ({"inner": 3}, "k.toml: inner = 3: must be a table"),
        ({"owners": {"物流": 1}}, "k.toml: owners.物流 = 1: must be a non-empty string"),
        ({"mode": "exact", "limit": 500}, "k.toml: limit = 500: must be at most 100 in exact mode"),
    ],
)
def test_a_bad_key_or_value_is_named_with_the_file(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_mapping(_Outer, data, "k.toml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_relative_paths_start_at_the_file(tmp_path: Path) -> None:
    (tmp_path / "kesheng.toml").write_text('folder = "exports"\n', encoding="utf-8")
    assert load(_Outer, tmp_path / "kesheng.toml").folder == tmp_path / "exports"


def test_the_analysis_tree_reads_every_section(tmp_path: Path) -> None:
    path = tmp_path / "kesheng.toml"
    path.write_text(
        '[pipeline.redaction]\nperson_names = false\n[themes]\nmin_df = 2\ntaxonomy = "餐饮.toml"\n'
        '[heatmap]\nprior_items = 5\n[[alerts.share]]\nname = "only"\n',
        encoding="utf-8",
    )
    config = load(AnalysisConfig, path)
    assert config.pipeline.redaction.person_names is False
    assert config.themes == ThemeConfig(min_df=2, taxonomy=tmp_path / "餐饮.toml")
    assert config.heatmap.prior_items == 5.0
    assert config.alerts is not None and [r.name for r in config.alerts.share] == ["only"]
    path.write_text("[themes]\nmax_discovered = '十二'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"kesheng\.toml: themes\.max_discovered = '十二': must be a whole number"):
        load(AnalysisConfig, path)


def test_the_example_kesheng_toml_reads_and_states_the_defaults() -> None:
    path = data_path("examples", "kesheng.toml")
    sections = {k: v for k, v in read_toml(path).items() if k != "service"}  # [service]: api.settings
    config = from_mapping(AnalysisConfig, sections, str(path), path.parent)
    # The example changes the taxonomy and the number of discovered demands; every other value it
    # writes is the default its comment explains.
    assert config.themes == ThemeConfig(taxonomy=path.parent / "restaurant_themes.toml", max_discovered=12)
    assert config.heatmap == HeatmapConfig() and config.heatmap.tier_order[0] == "钻石"
    assert config.pipeline.aspects == AspectConfig() == AspectConfig(own_weight=0.8, unjudged_weight=0.4)
    assert {"seed_similarity", "merge_similarity", "opinion_purity", "min_theme_items"} <= set(sections["themes"])
    assert {"min_mentions", "confidence", "tier_order"} <= set(sections["heatmap"])
    assert config.alerts is not None and [r.name for r in config.alerts.share] == ["theme_region_week"]


def test_environment_variables_are_read_as_their_fields_type() -> None:
    env = {"KS_LIMIT": "42", "KS_NAME": "回访", "KS_FOLDER": "/srv/ks", "KS_OTHER": "ignored"}
    assert with_environment(_Outer(), env, "KS_") == _Outer(name="回访", limit=42, folder=Path("/srv/ks"))
    with pytest.raises(ConfigError, match=r"environment: KS_LIMIT = 'many': must be a whole number"):
        with_environment(_Outer(), {"KS_LIMIT": "many"}, "KS_")
    with pytest.raises(ConfigError, match=r"environment: KS_LIMIT = 0: must be >= 1"):
        with_environment(_Outer(), {"KS_LIMIT": "0"}, "KS_")


@dataclass(frozen=True)
class _Window:
    size: int = setting(10, low=1)


@dataclass(frozen=True)
class _Recipe:
    files: dict[str, Path]
    window: _Window = field(default_factory=_Window)
    steps: int = setting(0, low=0)

    def __post_init__(self) -> None:
        if self.steps and self.window.size > self.steps:
            raise Invalid("window.size", "must be at most steps")


def test_a_table_of_paths_starts_at_the_base_and_names_each_entry() -> None:
    recipe = from_mapping(
        _Recipe, {"files": {"外卖": "golden/waimai.tsv", "京东": "/data/jd.tsv"}}, "r.toml", Path("/x")
    )
    assert recipe.files == {"外卖": Path("/x/golden/waimai.tsv"), "京东": Path("/data/jd.tsv")}
    with pytest.raises(ConfigError, match=r"r\.toml: files\.外卖 = 3: must be a non-empty string \(E200\)"):
        from_mapping(_Recipe, {"files": {"外卖": 3}}, "r.toml")


def test_a_section_read_alone_names_its_keys_under_the_section() -> None:
    with pytest.raises(ConfigError, match=r"r\.toml: gate\.steps = -1: must be >= 0"):
        from_mapping(_Recipe, {"files": {}, "steps": -1}, "r.toml", section="gate")
    with pytest.raises(ConfigError, match=r"r\.toml: gate = 3: must be a table"):
        from_mapping(_Recipe, 3, "r.toml", section="gate")  # type: ignore[arg-type]


def test_a_rule_across_sections_names_the_nested_key_and_its_value() -> None:
    with pytest.raises(ConfigError, match=r"r\.toml: window\.size = 20: must be at most steps"):
        from_mapping(_Recipe, {"files": {}, "steps": 5, "window": {"size": 20}}, "r.toml")
    # Not written in the file: the default is shown.
    with pytest.raises(ConfigError, match=r"r\.toml: window\.size = 10: must be at most steps"):
        from_mapping(_Recipe, {"files": {}, "steps": 5}, "r.toml")


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("steps=3", {"files": {}, "steps": 3}),
        # A section the document leaves out is added; a bare word is a string.
        ("window.size=4", {"files": {}, "window": {"size": 4}}),
        ("files.外卖=waimai.tsv", {"files": {"外卖": "waimai.tsv"}}),
    ],
)
def test_an_override_sets_a_declared_key(assignment: str, expected: dict[str, object]) -> None:
    data: dict[str, object] = {"files": {}}
    apply_override(_Recipe, data, assignment)
    assert data == expected


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("stpes=3", "--set: stpes = 3: is not a known setting (E200)"),
        ("window.sise=3", "--set: window.sise = 3: is not a known setting (E200)"),
        ("steps.size=3", "--set: steps.size = 3: is not a known setting (E200)"),
        ("steps", "--set 'steps': expected SECTION.KEY=VALUE (E200)"),
    ],
)
def test_an_override_of_an_unknown_key_is_refused(assignment: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_override(_Recipe, {"files": {}}, assignment)
    assert str(caught.value) == message
