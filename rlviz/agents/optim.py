"""Optimizer helpers shared by the agents."""

from __future__ import annotations

import torch


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    """Apply a scheduled step size (see ``BaseConfig.learning_rate_at``) before ``optimizer.step()``."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
