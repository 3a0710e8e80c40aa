"""Knowledge distillation (Hinton et al. 2015): a teacher's logits for the training rows, and the
loss that mixes them with the labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nlp.errors import ConfigError
from training.classifier import LABELS
from training.config import DataConfig


def load_teacher_logits(root: Path, data: DataConfig, rows: int) -> torch.Tensor | None:
    """The teacher's logits for the training rows, or None without a teacher."""
    if not data.teacher_logits:
        return None
    path = root / data.teacher_logits
    if not path.is_file():
        raise ConfigError(f"{path}: teacher logits not found; write them with python -m training.teacher")
    logits = np.load(path)
    if logits.shape != (rows, len(LABELS)):
        raise ConfigError(f"{path}: shape {logits.shape}, expected ({rows}, {len(LABELS)}) for {data.train}")
    return torch.from_numpy(logits.astype(np.float32))


class DistillationLoss:
    """Cross-entropy on the labels, mixed with the softened teacher's distribution when given."""

    def __init__(self, weight: float, temperature: float) -> None:
        self.weight, self.temperature = weight, temperature

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None) -> torch.Tensor:
        """Mean loss of a batch."""
        hard = torch.nn.functional.cross_entropy(logits, labels)
        if teacher is None or self.weight == 0:
            return hard
        t = self.temperature
        soft = torch.nn.functional.kl_div(
            torch.log_softmax(logits / t, dim=-1),
            torch.log_softmax(teacher / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        # T² keeps the soft term's gradients on the scale of the hard term's (Hinton et al. 2015).
        return (1 - self.weight) * hard + self.weight * t * t * soft


__all__ = ["DistillationLoss", "load_teacher_logits"]
