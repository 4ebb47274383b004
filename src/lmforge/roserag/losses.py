"""Preference losses on per-response log-probabilities: ORPO (default), DPO, SimPO and SFT.

Every loss takes per-pair tensors computed over **response tokens only** (all assistant turns;
the passages, question and intermediate user turns are masked), which is the fix for TRL's
ORPO, whose NLL term also covers the prompt. ``mean`` is the length-normalised log-probability
s = (1/|y|) Σ log π(y_t | x, y_<t), the same quantity Stage B selects pairs with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LN_HALF = -math.log(2.0)


def log1mexp(a: torch.Tensor) -> torch.Tensor:
    """log(1 − exp(a)) for a < 0, stable at both ends (Mächler 2012)."""
    return torch.where(a > _LN_HALF, torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))


def log_odds(mean_logp: torch.Tensor) -> torch.Tensor:
    """log(P / (1 − P)) with P = exp(s); s is clamped to ≤ −1e-6 so a certain response stays finite."""
    s = mean_logp.clamp(max=-1e-6)
    return s - log1mexp(s)


def orpo_loss(chosen_mean: torch.Tensor, rejected_mean: torch.Tensor, lam: float) -> tuple[torch.Tensor, dict]:
    """ORPO (Hong et al., 2024): −s(y⁺) + λ·(−log σ(logodds(y⁺) − logodds(y⁻))), averaged over pairs."""
    ratio = log_odds(chosen_mean) - log_odds(rejected_mean)
    odds_term = -F.logsigmoid(ratio)
    nll = -chosen_mean
    loss = (nll + lam * odds_term).mean()
    return loss, {"nll": nll.mean(), "log_odds_ratio": ratio.mean(), "odds_loss": odds_term.mean()}


def simpo_loss(
    chosen_mean: torch.Tensor, rejected_mean: torch.Tensor, beta: float, gamma: float
) -> tuple[torch.Tensor, dict]:
    """SimPO (Meng et al., 2024): −log σ(β·(s⁺ − s⁻) − γ), reference-free and length-normalised."""
    margin = beta * (chosen_mean - rejected_mean) - gamma
    return -F.logsigmoid(margin).mean(), {"margin": margin.mean()}


def dpo_loss(
    chosen_sum: torch.Tensor,
    rejected_sum: torch.Tensor,
    ref_chosen_sum: torch.Tensor,
    ref_rejected_sum: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, dict]:
    """DPO (Rafailov et al., 2023) on summed log-probs against a frozen reference: −log σ(β·Δ)."""
    delta = (chosen_sum - ref_chosen_sum) - (rejected_sum - ref_rejected_sum)
    return -F.logsigmoid(beta * delta).mean(), {"reward_margin": beta * delta.mean()}


def sft_loss(chosen_mean: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """NLL of the chosen response only (the SFT-on-chosen baseline)."""
    return -chosen_mean.mean(), {}
