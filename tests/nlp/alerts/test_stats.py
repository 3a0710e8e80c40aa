"""Lower confidence bounds and the rise test, against reference values (SciPy 1.17: beta.ppf for
Clopper-Pearson, binomtest(...).proportion_ci(method="wilson") at twice the one-sided alpha)."""

from __future__ import annotations

import pytest

from nlp.alerts.stats import clopper_pearson_lower, lower_bound, two_proportion_rise, wilson_lower


@pytest.mark.parametrize(
    ("successes", "trials", "confidence", "wilson", "exact"),
    [
        (3, 4, 0.95, 0.356168, 0.248605),
        (300, 1000, 0.95, 0.276730, 0.276123),
        (85, 103, 0.95, 0.755595, 0.751948),
        (10, 10, 0.90, 0.858931, 0.794328),
        (7, 10, 0.99, 0.349281, 0.297116),
        (0, 10, 0.95, 0.0, 0.0),
    ],
)
def test_lower_bounds_match_reference_values(
    successes: int, trials: int, confidence: float, wilson: float, exact: float
) -> None:
    assert wilson_lower(successes, trials, confidence) == pytest.approx(wilson, abs=1e-6)
    assert clopper_pearson_lower(successes, trials, confidence) == pytest.approx(exact, abs=1e-6)
    assert lower_bound(successes, trials, confidence, "clopper_pearson") <= successes / trials


def test_three_of_four_pages_nobody_but_three_hundred_of_a_thousand_do() -> None:
    # The example: against a threshold of 0.25 (and 0.5) with a 95 % one-sided bound.
    assert wilson_lower(3, 4) < 0.5
    assert clopper_pearson_lower(3, 4) < 0.25
    assert wilson_lower(300, 1000) > 0.25
    assert clopper_pearson_lower(300, 1000) > 0.25


def test_bound_tightens_with_volume_at_the_same_share() -> None:
    bounds = [wilson_lower(n * 3 // 10, n) for n in (10, 100, 1000, 10000)]
    assert bounds == sorted(bounds) and bounds[-1] == pytest.approx(0.2925, abs=1e-3)


@pytest.mark.parametrize(
    ("before", "after", "z", "p_value"),
    [
        ((14, 40), (30, 40), 3.595733, 0.000162),
        ((9, 30), (15, 30), 1.581139, 0.056923),
        ((21, 30), (9, 30), -3.098387, 0.999027),
        ((0, 20), (0, 25), 0.0, 1.0),  # no variance: no evidence of a rise
    ],
)
def test_two_proportion_rise(before: tuple[int, int], after: tuple[int, int], z: float, p_value: float) -> None:
    test = two_proportion_rise(*before, *after)
    assert test.z == pytest.approx(z, abs=1e-5)
    assert test.p_value == pytest.approx(p_value, abs=1e-5)
    assert test.rise == pytest.approx(after[0] / after[1] - before[0] / before[1])


@pytest.mark.parametrize(("successes", "trials"), [(5, 4), (-1, 4), (1, -1)])
def test_impossible_counts_are_refused(successes: int, trials: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_lower(successes, trials)


def test_unknown_method_and_level_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown bound method"):
        lower_bound(1, 2, 0.95, "normal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        wilson_lower(1, 2, 1.5)
