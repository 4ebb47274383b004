"""Training arguments of :class:`~lmforge.roserag.preference_trainer.PreferenceTrainer` (TRL-style)."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from lmforge.core.errors import LmforgeError

LOSSES = ("orpo", "dpo", "simpo", "sft")


@dataclass
class PreferenceConfig(TrainingArguments):
    """``TrainingArguments`` plus the preference loss and its hyperparameters [design defaults].

    ``beta`` is ORPO's λ (TRL's ``beta``, default 0.1), DPO's β (0.1) or SimPO's β (set 2–2.5:
    the 0.1 default is wrong for SimPO). ``max_length`` is never used to truncate: ``None``
    takes the longest pair in the data, and a pair longer than a given ``max_length`` (or than
    the model's positions) stops training with an error naming it.
    """

    loss: str = field(default="orpo", metadata={"help": "orpo, dpo, simpo or sft (NLL on chosen)."})
    beta: float = field(default=0.1, metadata={"help": "ORPO λ / DPO β / SimPO β."})
    simpo_gamma: float = field(default=0.5, metadata={"help": "SimPO target margin γ."})
    max_length: int | None = field(default=None, metadata={"help": "Longest allowed pair in tokens; None: from data."})
    disable_dropout: bool = field(default=True, metadata={"help": "Turn dropout off (as TRL's preference trainers)."})
    learning_rate: float = field(default=5e-6, metadata={"help": "AdamW learning rate."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Pairs are tokenized by the trainer."})
    report_to: str | list[str] = field(default="none", metadata={"help": "Integrations to report to."})

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise LmforgeError(f"unknown loss {self.loss!r}; use one of: {', '.join(LOSSES)}")
        if self.beta <= 0:
            raise LmforgeError(f"beta must be > 0, got {self.beta}")
        super().__post_init__()
