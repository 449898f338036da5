"""Optimizer helpers shared by the agents."""

from __future__ import annotations

import torch


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    """Apply a scheduled step size (see ``BaseConfig.learning_rate_at``) before ``optimizer.step()``."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def clip_grad_norm(parameters: list[torch.Tensor], max_norm: float) -> float:
    """Rescale the gradients so their global L2 norm is at most ``max_norm``; returns the norm before.

    The same result as ``torch.nn.utils.clip_grad_norm_``, with less per-call overhead (it runs
    every gradient step): on the CPU the norm is a plain number at once, so the gradients are only
    touched when they are actually clipped.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).item()
    if norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (norm + 1e-6))
    return norm
