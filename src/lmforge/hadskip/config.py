"""HadSkip configuration: the budget, the gate shape and every schedule and loss weight of the recipe.

All defaults follow ``docs/hadskip.md`` (they are [design] choices there, so each is a field). The
config is saved as ``hadskip_config.json`` next to the backbone so a trained folder records the
budget and schedule it was trained with.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from lmforge.core.data import read_json
from lmforge.core.errors import LmforgeError

CONFIG_NAME = "hadskip_config.json"
DEFAULT_GATE_LR = 1e-2
"""Learning rate of the skip gates (an optimiser setting, so it lives in the training arguments).

The note's 1e-3 assumes ~10k steps; Adam moves a gate by about its LR per step, and the gates must
travel from logit(0.99) ≈ 4.6 to below 0 within the homotopy, so runs of 50–500 steps need 1e-2
(docs/hadskip.md, "Defaults and why")."""

SummaryToken = Literal["auto", "cls", "last"]
BudgetMode = Literal["augmented", "lagrangian", "penalty", "two_sided"]
GateInputNorm = Literal["rms", "none"]
UsageEstimate = Literal["straight_through", "soft"]
InitOrder = Literal["importance", "depth"]
_CHOICES = {  # each field's allowed values, read from its Literal type
    "summary_token": get_args(SummaryToken),
    "budget_mode": get_args(BudgetMode),
    "gate_input_norm": get_args(GateInputNorm),
    "usage_estimate": get_args(UsageEstimate),
    "init_order": get_args(InitOrder),
}


@dataclass
class HadSkipConfig:
    """Budgeted adaptive layer skipping: the gate, the homotopy schedules, the budget and distillation."""

    budget: float = 0.5
    """Target fraction b of layers executed on average over the data (b in (0, 1])."""
    gate_hidden: int = 128
    """Hidden size d_g of each layer's gate MLP."""
    summary_token: SummaryToken = "auto"
    """Which token summarises the sequence for the gate: ``cls`` (first), ``last`` (last non-pad) or
    ``auto`` (``cls`` for encoders, ``last`` for decoders, whose first token is always BOS)."""
    gate_input_norm: GateInputNorm = "rms"
    """Scale the gate's two input vectors to unit RMS (``none``: raw hidden states, which saturate the
    tanh on backbones with a large residual stream such as SmolLM2)."""
    threshold: float = 0.5
    """Keep a layer at inference when its keep probability is at least this."""
    strict_budget: bool = False
    """At inference never execute more than ceil(b·L) layers for one input."""

    tau0: float = 1.0
    """Initial gate temperature of the soft phase."""
    tau_min: float = 0.05
    """Final gate temperature (geometric annealing from ``tau0``)."""
    anneal_temperature: bool = True
    """Anneal the temperature; if off it stays at ``tau0``."""
    anneal_budget: bool = True
    """Anneal the budget cubically from 1.0 to b; if off the target is b from the first step."""
    homotopy_frac: float = 0.7
    """Fraction T_h/T of training steps over which budget and temperature are annealed."""
    hard_phase: bool = True
    """After T_h train with straight-through hard gates (the forward pass then matches inference)."""
    freeze_gates_in_hard_phase: bool = False
    """Stop updating the gates once the hard phase starts (only the backbone adapts)."""

    budget_mode: BudgetMode = "augmented"
    """How the budget is enforced: ``augmented`` (default) λ·(r̂ − b_t) + γ/2·(r̂ − b_t)² with λ ∈ ℝ by dual
    ascent, so usage tracks b_t from the first step and ends at b, neither over nor under; ``lagrangian``
    (the note's λ ≥ 0, which lags in short runs and then undershoots); ``penalty`` / ``two_sided``."""
    eta_lambda: float = 0.02
    """Dual-ascent step size for the Lagrange multiplier."""
    lambda_init: float = 0.0
    """Initial value of the Lagrange multiplier."""
    penalty_gamma: float = 10.0
    """Weight γ of the quadratic term in the ``augmented``, ``penalty`` and ``two_sided`` modes."""
    usage_estimate: UsageEstimate = "straight_through"
    """r̂ in the budget term: hard decisions forward with the gradient of σ(a) (``straight_through``, the
    default: the gradient does not vanish as τ falls), or the soft probabilities σ(a/τ) (``soft``)."""
    layer_costs: list[float] | None = None
    """Relative cost of each layer for heterogeneous backbones (None: all layers cost the same)."""

    kd_alpha: float = 0.5
    """Weight of the distillation term against the task loss (0 disables the teacher)."""
    kd_temperature: float = 2.0
    """Softmax temperature T of the distillation KL."""

    budget_tolerance: float = 0.005
    """A dev evaluation is within budget when its measured usage is at most b + this (checkpoint choice)."""
    calibrate_budget: bool = True
    """After training, if usage on ``init_examples`` training examples exceeds b + ``budget_tolerance``, lower
    all gate logits by the smallest common shift that meets it [design]: with few layers, training can end
    on the static subset just above b."""

    init_from_importance: bool = True
    """Initialise gate biases in ``init_order`` (the fine-grained initialisation)."""
    init_order: InitOrder = "importance"
    """Order of the initial keep probabilities: ``importance`` (single-layer-skip loss increase) or
    ``depth`` (earlier layers kept first, an early-exit-like prior; no importance pass)."""
    init_examples: int = 2000
    """Training examples used to measure layer importance."""
    init_mean_keep: float = 1.0
    """Mean initial keep probability b_0 of the gates."""
    init_rank_step: float = 0.01
    """Step ε between consecutive importance ranks in the initial keep probabilities."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject values the method cannot work with, with a one-line message naming the field."""
        _check(0.0 < self.budget <= 1.0, "budget", self.budget, "a fraction in (0, 1]")
        _check(self.gate_hidden >= 1, "gate_hidden", self.gate_hidden, "a positive integer")
        _check(0.0 < self.threshold < 1.0, "threshold", self.threshold, "in (0, 1)")
        _check(0.0 < self.tau_min <= self.tau0, "tau_min", self.tau_min, f"in (0, tau0={self.tau0}]")
        _check(0.0 < self.homotopy_frac <= 1.0, "homotopy_frac", self.homotopy_frac, "a fraction in (0, 1]")
        _check(self.eta_lambda >= 0.0, "eta_lambda", self.eta_lambda, "non-negative")
        _check(self.lambda_init >= 0.0, "lambda_init", self.lambda_init, "non-negative")
        _check(self.penalty_gamma >= 0.0, "penalty_gamma", self.penalty_gamma, "non-negative")
        _check(0.0 <= self.kd_alpha <= 1.0, "kd_alpha", self.kd_alpha, "in [0, 1]")
        _check(self.kd_temperature > 0.0, "kd_temperature", self.kd_temperature, "positive")
        _check(self.budget_tolerance >= 0.0, "budget_tolerance", self.budget_tolerance, "non-negative")
        _check(self.init_examples >= 1, "init_examples", self.init_examples, "a positive integer")
        _check(0.0 < self.init_mean_keep <= 1.0, "init_mean_keep", self.init_mean_keep, "a fraction in (0, 1]")
        _check(0.0 < self.init_rank_step < 0.5, "init_rank_step", self.init_rank_step, "in (0, 0.5)")
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            _check(value in choices, name, value, "one of " + ", ".join(choices))
        if self.layer_costs is not None:
            ok = len(self.layer_costs) > 0 and all(math.isfinite(c) and c > 0 for c in self.layer_costs)
            _check(ok, "layer_costs", self.layer_costs, "a list of positive numbers, one per layer")

    def max_layers(self, num_layers: int) -> int:
        """The strict per-input cap ceil(b·L) (a tiny tolerance keeps 0.5·12 at 6, not 7)."""
        return max(1, math.ceil(self.budget * num_layers - 1e-9))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HadSkipConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LmforgeError(f"unknown HadSkip config field(s): {', '.join(unknown)}")
        return cls(**data)

    def save_pretrained(self, save_directory: str | Path) -> Path:
        """Write ``hadskip_config.json`` into ``save_directory`` (created if needed)."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> HadSkipConfig:
        """Read ``hadskip_config.json`` from a folder written by :meth:`save_pretrained`."""
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise LmforgeError(f"{path}: no HadSkip config here (is this a folder saved by HadSkipModel?)")
        data = read_json(path)
        if not isinstance(data, dict):
            raise LmforgeError(f"{path}: expected a JSON object of config fields")
        return cls.from_dict(data)


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise LmforgeError(f"HadSkip config: {name}={value!r} is invalid, expected {expected}")
