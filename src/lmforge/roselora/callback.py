"""`RoseLoraCallback`: RoseLoRA inside the HF `Trainer` (and TRL trainers, its subclasses).

`Trainer` runs, per optimizer step: gradient clipping, `on_pre_optimizer_step`,
`optimizer.step()`, `on_optimizer_step`, `zero_grad()`, `global_step += 1`. Importance is read
in the first hook (clipped gradients, pre-step weights, once per step even with gradient
accumulation) and the masks are applied in the second, with `state.global_step` still the
0-based index of the step just taken, the official loop's `it`. With fp16 AMP the gradients
are already unscaled there: `Trainer` computes the gradient norm through
`accelerator.clip_grad_norm_` on every step, which unscales them.
"""

from __future__ import annotations

import logging
import os

from safetensors.torch import load_file, save_file
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from lmforge.roselora.config import RoseLoraConfig
from lmforge.roselora.sparsity import RoseLoraSparsifier

logger = logging.getLogger(__name__)

STATE_NAME = "roselora_state.safetensors"


class RoseLoraCallback(TrainerCallback):
    """Sparsify a LoRA adapter during training: EMA importance, row/column top-k, cubic schedule.

    `config` defaults to the adapter's own `peft_config` (a `RoseLoraConfig` given to
    `get_peft_model` or a TRL trainer); pass it to sparsify an adapter loaded as plain LoRA.
    The importance EMAs go into each checkpoint as `roselora_state.safetensors` and are
    restored when training resumes from that checkpoint.
    """

    def __init__(self, config: RoseLoraConfig | None = None, adapter_name: str | None = None) -> None:
        self.config = config
        self.adapter_name = adapter_name
        self.sparsifier: RoseLoraSparsifier | None = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.sparsifier = RoseLoraSparsifier(kwargs["model"], self.config, self.adapter_name)
        end = self.sparsifier.config.prune_end_step
        if state.max_steps and state.max_steps <= end:
            logger.warning(
                "RoseLoRA: training has %d steps but the schedule ends at step %d; the adapter is pruned "
                "to the final density at the end of training",
                state.max_steps,
                end,
            )
        checkpoint_state = os.path.join(_checkpoint_dir(args, state), STATE_NAME)
        if state.global_step > 0 and os.path.isfile(checkpoint_state):
            self.sparsifier.load_state_dict(load_file(checkpoint_state))

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> None:
        self._require_sparsifier().accumulate()

    def on_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> None:
        self._require_sparsifier().prune(state.global_step, kwargs.get("optimizer"))

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if state.global_step > 0:
            self._require_sparsifier().finalize(kwargs.get("optimizer"))

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        ema = self._require_sparsifier().state_dict()
        if state.is_world_process_zero and ema:
            save_file(
                {k: v.cpu().contiguous() for k, v in ema.items()},
                os.path.join(_checkpoint_dir(args, state), STATE_NAME),
            )

    def _require_sparsifier(self) -> RoseLoraSparsifier:
        if self.sparsifier is None:
            raise RuntimeError("RoseLoraCallback used outside Trainer.train() (on_train_begin was not called)")
        return self.sparsifier


def _checkpoint_dir(args: TrainingArguments, state: TrainerState) -> str:
    """The folder `Trainer` saves the checkpoint of the current global step in."""
    return os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
