"""Settings of Stage A: how many trajectories per question, how they are decoded and accepted."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lmforge.core.errors import LmforgeError
from lmforge.roserag.answers import ACCEPT_RULES
from lmforge.roserag.prompting_config import PromptConfig


@dataclass(frozen=True)
class SampleConfig:
    """Rejection sampling of positive and negative trajectories [design defaults].

    - ``n`` positives per question, each a rationale written with the gold answer shown, kept when
      the model's answer from it (asked without the hint) is correct; and ``n`` negatives, full
      inference-protocol trajectories, kept when their answer is wrong.
    - Reasoning turns are sampled at ``temperature``/``top_p``; the answer turn at
      ``answer_temperature`` (greedy by default: "the model's answer from that rationale").
    - ``accept`` is ``em`` (normalised exact match) or ``contains`` (gold inside the answer).
    - ``chunk_size`` questions go through the turns together; their rows are written when the
      chunk ends, so an interruption loses at most one chunk (and the response cache keeps it).
    """

    n: int = 8
    temperature: float = 0.8
    top_p: float = 0.95
    answer_temperature: float = 0.0
    seed: int = 0
    accept: str = "em"
    positives: bool = True
    negatives: bool = True
    chunk_size: int = 16
    prompt: PromptConfig = field(default_factory=PromptConfig)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise LmforgeError(f"n must be >= 1, got {self.n}")
        if self.accept not in ACCEPT_RULES:
            raise LmforgeError(f"unknown acceptance rule {self.accept!r}; use one of: {', '.join(ACCEPT_RULES)}")
        if not (self.positives or self.negatives):
            raise LmforgeError("nothing to sample: enable positives, negatives or both")
        if self.prompt.protocol == "single_turn":
            raise LmforgeError("single_turn has no rationale to sample; sample with two_turn or three_turn")
        if self.chunk_size < 1:
            raise LmforgeError(f"chunk_size must be >= 1, got {self.chunk_size}")

    def to_dict(self) -> dict:
        return asdict(self)
