"""Training arguments of :class:`HadSkipTrainer`: the HF ones plus the gates' own learning rate."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from lmforge.core.errors import LmforgeError
from lmforge.hadskip.config import DEFAULT_GATE_LR


@dataclass
class HadSkipTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with a separate gate learning rate (gates start from scratch, the backbone does not)."""

    gate_learning_rate: float = field(
        default=DEFAULT_GATE_LR, metadata={"help": "Learning rate of the skip gates (the backbone uses learning_rate)."}
    )

    def __post_init__(self) -> None:
        if not self.gate_learning_rate > 0:
            raise LmforgeError(f"gate_learning_rate={self.gate_learning_rate!r} is invalid, expected a positive number")
        super().__post_init__()
