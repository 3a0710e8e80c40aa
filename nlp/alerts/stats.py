"""Small-sample statistics for alert rules: lower confidence bounds of a share, and tests for a rise of a
share and a drop of NPS.

Pure Python (the standard library's NormalDist and lgamma), so the core needs no SciPy. Bounds are
one-sided: an alert asks "is the share above the threshold?", never "is it different?".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

BoundMethod = Literal["wilson", "clopper_pearson"]

_STANDARD_NORMAL = NormalDist()
# Bisection on [0, 1] to this width gives a bound far finer than any share we report (4 decimals).
_BISECTION_TOLERANCE = 1e-10
_BISECTION_MAX_STEPS = 200


def _check_counts(successes: int, trials: int) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")


def _check_level(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def wilson_lower(successes: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided Wilson score lower bound of a proportion (0.0 when there are no trials).

    Wilson keeps good coverage at small n and near 0 or 1, where the plain normal interval does not.
    """
    _check_counts(successes, trials)
    _check_level(confidence)
    if trials == 0:
        return 0.0
    z = _STANDARD_NORMAL.inv_cdf(confidence)
    p = successes / trials
    z2n = z * z / trials
    centre = p + z2n / 2
    margin = z * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials))
    return max(0.0, (centre - margin) / (1 + z2n))


def _binomial_upper_tail(successes: int, trials: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p), summed in log space to stay finite at large n."""
    if successes <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_choose = math.lgamma(trials + 1)
    total = 0.0
    for k in range(successes, trials + 1):
        log_term = log_choose - math.lgamma(k + 1) - math.lgamma(trials - k + 1) + k * log_p
        total += math.exp(log_term + (trials - k) * log_q)
    return min(1.0, total)


def clopper_pearson_lower(successes: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) lower bound: the p at which P(X >= successes) = 1 - confidence.

    Conservative (coverage is at least the level); the tail is monotone in p, so bisection finds it.
    """
    _check_counts(successes, trials)
    _check_level(confidence)
    if trials == 0 or successes == 0:
        return 0.0
    alpha = 1.0 - confidence
    low, high = 0.0, successes / trials
    for _ in range(_BISECTION_MAX_STEPS):
        if high - low < _BISECTION_TOLERANCE:
            break
        mid = (low + high) / 2
        if _binomial_upper_tail(successes, trials, mid) < alpha:
            low = mid
        else:
            high = mid
    return low


def lower_bound(successes: int, trials: int, confidence: float, method: BoundMethod = "wilson") -> float:
    """The lower confidence bound of successes/trials by the named method."""
    if method == "wilson":
        return wilson_lower(successes, trials, confidence)
    if method == "clopper_pearson":
        return clopper_pearson_lower(successes, trials, confidence)
    raise ValueError(f"unknown bound method {method!r}")


@dataclass(frozen=True)
class RiseTest:
    """A one-sided two-proportion z test of "the share rose from before to after"."""

    before: float
    after: float
    rise: float
    z: float
    p_value: float


def two_proportion_rise(before_successes: int, before_trials: int, after_successes: int, after_trials: int) -> RiseTest:
    """Pooled two-proportion z test, one-sided (after > before).

    When both shares are 0 or both are 1 the pooled variance is zero; there is no evidence of a rise
    then, so z = 0 and p = 1 rather than a division by zero.
    """
    _check_counts(before_successes, before_trials)
    _check_counts(after_successes, after_trials)
    if before_trials == 0 or after_trials == 0:
        raise ValueError("both periods need at least one trial")
    p1 = before_successes / before_trials
    p2 = after_successes / after_trials
    pooled = (before_successes + after_successes) / (before_trials + after_trials)
    variance = pooled * (1 - pooled) * (1 / before_trials + 1 / after_trials)
    if variance <= 0.0:
        return RiseTest(before=p1, after=p2, rise=p2 - p1, z=0.0, p_value=1.0)
    z = (p2 - p1) / math.sqrt(variance)
    return RiseTest(before=p1, after=p2, rise=p2 - p1, z=z, p_value=1.0 - _STANDARD_NORMAL.cdf(z))


@dataclass(frozen=True)
class NpsDropTest:
    """A one-sided two-sample z test of "NPS fell from before to after"; NPS in points (-100 to 100)."""

    before: float
    after: float
    drop: float
    z: float
    p_value: float


def net_promoter_score(promoters: int, detractors: int, answers: int) -> float:
    """% promoters - % detractors, in points (-100 to 100)."""
    if answers <= 0 or promoters < 0 or detractors < 0 or promoters + detractors > answers:
        raise ValueError(f"need 0 <= promoters + detractors <= answers > 0, got {promoters}, {detractors}, {answers}")
    return 100.0 * (promoters - detractors) / answers


def nps_drop_test(
    before_promoters: int,
    before_detractors: int,
    before_answers: int,
    after_promoters: int,
    after_detractors: int,
    after_answers: int,
) -> NpsDropTest:
    """z test on the mean per-answer score (+1 promoter, 0 passive, -1 detractor), one-sided (after < before).

    The mean score is NPS / 100. As in the pooled two-proportion test, the variance is the one of both
    weeks' answers together (what it would be if nothing had changed): it is zero only when every answer
    has the same score, and then there is no evidence of a drop (z = 0, p = 1).
    """
    before = net_promoter_score(before_promoters, before_detractors, before_answers)
    after = net_promoter_score(after_promoters, after_detractors, after_answers)
    answers = before_answers + after_answers
    mean = (before_promoters + after_promoters - before_detractors - after_detractors) / answers
    # Scores are ±1 or 0, so the sum of squares is the number of promoters and detractors.
    squares = before_promoters + after_promoters + before_detractors + after_detractors
    variance = max(0.0, squares / answers - mean * mean) * answers / max(answers - 1, 1)
    spread = math.sqrt(variance * (1 / before_answers + 1 / after_answers))
    if spread <= 0.0:
        return NpsDropTest(before=before, after=after, drop=before - after, z=0.0, p_value=1.0)
    z = (before - after) / 100.0 / spread
    return NpsDropTest(before=before, after=after, drop=before - after, z=z, p_value=1.0 - _STANDARD_NORMAL.cdf(z))
