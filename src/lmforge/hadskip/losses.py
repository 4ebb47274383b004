"""Loss terms of the HadSkip objective: task/distillation loss and the budget term."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from lmforge.hadskip.config import BudgetMode


def task_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for classification, MSE for a single-output regression head (STS-B)."""
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.squeeze(-1).float(), labels.float(), reduction=reduction)
    return F.cross_entropy(logits.float(), labels.long(), reduction=reduction)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    labels: torch.Tensor,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """(1−α)·task + α·T²·KL(softmax(t/T) ‖ softmax(s/T)); regression uses α·MSE(t, s) instead of the KL.

    The KD term keeps the skipping student close to the full fine-tuned teacher.
    """
    loss = task_loss(student_logits, labels)
    if teacher_logits is None or alpha == 0.0:
        return loss
    student, teacher = student_logits.float(), teacher_logits.float().detach()
    if student.shape[-1] == 1:
        kd = F.mse_loss(student, teacher)
    else:
        kd = (
            F.kl_div(
                F.log_softmax(student / temperature, dim=-1),
                F.softmax(teacher / temperature, dim=-1),
                reduction="batchmean",
            )
            * temperature**2
        )
    return (1.0 - alpha) * loss + alpha * kd


def expected_usage(keep_probs: torch.Tensor, layer_costs: torch.Tensor | None = None) -> torch.Tensor:
    """r̂ = batch mean of Σ_l c_l·p_l with costs normalised to sum 1 (uniform: the mean keep probability).

    Computed from probabilities so that it stays differentiable in the hard (straight-through) phase.
    """
    per_layer = keep_probs.float().mean(dim=0)
    if layer_costs is None:
        return per_layer.mean()
    weights = layer_costs.to(per_layer) / layer_costs.sum()
    return (per_layer * weights).sum()


def budget_loss(usage: torch.Tensor, target: float, mode: BudgetMode, multiplier: float, gamma: float) -> torch.Tensor:
    """λ·(r̂ − b_t) for the Lagrangian, λ·(r̂ − b_t) + γ/2·(r̂ − b_t)² for the augmented Lagrangian,
    γ·max(0, r̂ − b_t)² or γ·(r̂ − b_t)² for the penalties."""
    gap = usage - target
    if mode == "lagrangian":
        return multiplier * gap
    if mode == "augmented":
        return multiplier * gap + 0.5 * gamma * gap**2
    if mode == "penalty":
        return gamma * gap.clamp(min=0.0) ** 2
    return gamma * gap**2
