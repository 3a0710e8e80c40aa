"""The analysis core: bounded theme samples and discovered theme ids that stay stable across fits."""

from __future__ import annotations

from nlp.alerts import AlertRules
from nlp.analysis import Reservoir, with_theme_departments
from nlp.taxonomy import load_taxonomy
from nlp.themes import Theme, ThemeCatalog


def test_the_sample_is_bounded_seeded_and_uniform() -> None:
    sample: Reservoir[int] = Reservoir(100, seed=7)
    for value in range(100_000):
        sample.offer(value)
    assert len(sample.values) == 100 and sample.seen == 100_000
    again: Reservoir[int] = Reservoir(100, seed=7)
    for value in range(100_000):
        again.offer(value)
    assert again.values == sample.values
    # Uniform: the sample is spread over the whole stream, not its beginning.
    assert sum(v >= 50_000 for v in sample.values) > 30
    small: Reservoir[int] = Reservoir(100, seed=7)
    for value in range(40):
        small.offer(value)
    assert small.values == list(range(40))  # inputs that fit are taken whole


def _found(theme_id: str, *keywords: str) -> Theme:
    return Theme(theme_id, "·".join(keywords[:2]), keywords, discovered=True)


def test_discovered_themes_keep_their_ids_and_labels_across_fits() -> None:
    first = [_found("D01", "送餐慢", "骑手", "超时"), _found("D02", "分量少", "吃不饱", "份量")]
    renames, catalog = ThemeCatalog().assign(first, min_overlap=0.5)
    assert renames == {"D01": "D01", "D02": "D02"} and catalog.next_number == 3

    # The next batch numbers its clusters afresh, in another order, with one new demand.
    second = [_found("D01", "分量少", "份量", "太少"), _found("D02", "排队", "等位"), _found("D03", "超时", "送餐慢")]
    renames, catalog = catalog.assign(second, min_overlap=0.5)
    assert renames == {"D01": "D02", "D03": "D01", "D02": "D03"}
    assert catalog.label("D02") == "分量少·吃不饱"  # the label managers know is kept
    assert catalog.label("D03") == "排队·等位" and catalog.next_number == 4
    assert ThemeCatalog.from_dict(catalog.to_dict()) == catalog


def test_a_known_theme_is_claimed_once_per_fit() -> None:
    _, catalog = ThemeCatalog().assign([_found("D01", "物流慢", "快递")], min_overlap=0.5)
    renames, catalog = catalog.assign([_found("D01", "物流慢", "快递"), _found("D02", "快递", "物流慢")], 0.5)
    assert sorted(renames.values()) == ["D01", "D02"]


def test_taxonomy_departments_route_their_themes_by_id() -> None:
    rules = with_theme_departments(AlertRules(), load_taxonomy())
    assert rules.routing.department_for("logistics") == "供应链管理部"
    assert rules.routing.department_for("billing") == "财务部"
