"""Settings of Stage B: how candidates are scored and which pair each question contributes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lmforge.core.errors import LmforgeError

PAIR_RULES = ("minpos-maxneg", "maxpos-minneg", "random")
SCORES = ("mean", "sum")


@dataclass(frozen=True)
class SelectConfig:
    """One (chosen, rejected) pair per question that has both a kept positive and a kept negative.

    - ``minpos-maxneg`` (default): the least likely correct vs the most likely wrong candidate
      under the frozen starting model, i.e. the pair with the smallest margin;
      ``maxpos-minneg`` is the easiest pair; ``random`` is the "w/o data selection" ablation.
    - ``score``: ``mean`` (length-normalised log-probability of all assistant turns, the quantity
      ORPO uses) or ``sum``.
    """

    rule: str = "minpos-maxneg"
    score: str = "mean"
    seed: int = 0
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.rule not in PAIR_RULES:
            raise LmforgeError(f"unknown pair rule {self.rule!r}; use one of: {', '.join(PAIR_RULES)}")
        if self.score not in SCORES:
            raise LmforgeError(f"unknown score {self.score!r}; use one of: {', '.join(SCORES)}")
        if self.batch_size < 1:
            raise LmforgeError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def needs_scores(self) -> bool:
        return self.rule != "random"

    def to_dict(self) -> dict:
        return asdict(self)
