"""What the training loop follows: the batches of each epoch and the learning-rate schedule.

Batches are cut from length-sorted windows of shuffled texts, so padding stays small, and depend
only on (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def epoch_batches(lengths: Sequence[int], batch_size: int, mega_batches: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches (lists of example indices) of one epoch: shuffle, sort each window of
    `mega_batches` batches by length, cut, shuffle the batches. Depends only on (seed, epoch)."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * mega_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


class BudgetSchedule:
    """Linear warm-up over `warmup` steps, then linear decay reaching 0 at `total` steps or, when a
    wall-time budget is set, at the end of the budget if that comes first.

    A CPU shared with other work runs at an unpredictable speed; decaying by whichever of steps or
    time runs out first means a run stopped by its budget still ends annealed (Li et al. 2020,
    "Budgeted training"). Without a budget the schedule depends on the step alone.
    """

    def __init__(self, warmup: int, total: int, budget_seconds: float) -> None:
        self.warmup, self.total, self.budget_seconds = warmup, total, budget_seconds

    def factor(self, step: int, elapsed: float) -> float:
        """Multiplier of the peak learning rate for the update after `step` steps and `elapsed` s."""
        if step < self.warmup:
            return (step + 1) / max(1, self.warmup)
        progress = step / self.total
        if self.budget_seconds > 0:
            progress = max(progress, elapsed / self.budget_seconds)
        start = self.warmup / self.total
        return min(1.0, max(0.0, (1.0 - progress) / max(1e-9, 1.0 - start)))

    def state_dict(self) -> dict[str, float]:
        """Its parameters, saved with the checkpoint."""
        return {"warmup": self.warmup, "total": self.total, "budget_seconds": self.budget_seconds}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore the warm-up length (the total and budget come from the current config)."""
        self.warmup = int(state["warmup"])


__all__ = ["BudgetSchedule", "epoch_batches"]
