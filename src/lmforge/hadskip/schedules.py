"""Homotopy schedules: move from the full fine-tuned model (b = 1, soft gates) to the hard budgeted one.

Following HomoDistil's cubic schedule, the budget target and the gate temperature are annealed over
the first T_h = ``homotopy_frac``·T steps; afterwards both are held and gates become hard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmforge.hadskip.config import HadSkipConfig

GateMode = Literal["full", "soft", "hard", "fast"]


@dataclass(frozen=True)
class SchedulePoint:
    """What the trainer applies at one optimisation step."""

    budget: float
    temperature: float
    mode: GateMode


def homotopy_progress(step: int, total_steps: int, homotopy_frac: float) -> float:
    """min(1, t/T_h): 0 at the start, 1 once the annealing is over."""
    horizon = max(1.0, homotopy_frac * total_steps)
    return min(1.0, max(0, step) / horizon)


def budget_at(progress: float, budget: float, anneal: bool = True) -> float:
    """Cubic budget b_t = b + (1 − b)·(1 − progress)³, from 1.0 down to b."""
    if not anneal:
        return budget
    return budget + (1.0 - budget) * (1.0 - progress) ** 3


def temperature_at(progress: float, tau0: float, tau_min: float, anneal: bool = True) -> float:
    """Geometric temperature τ_t = max(τ_min, τ_0·(τ_min/τ_0)^progress)."""
    if not anneal:
        return tau0
    return max(tau_min, tau0 * (tau_min / tau0) ** progress)


def schedule_at(step: int, total_steps: int, config: HadSkipConfig) -> SchedulePoint:
    """Budget target, temperature and gate mode for training step ``step`` of ``total_steps``."""
    progress = homotopy_progress(step, total_steps, config.homotopy_frac)
    hard = config.hard_phase and progress >= 1.0
    return SchedulePoint(
        budget=budget_at(progress, config.budget, config.anneal_budget),
        temperature=temperature_at(progress, config.tau0, config.tau_min, config.anneal_temperature),
        mode="hard" if hard else "soft",
    )
