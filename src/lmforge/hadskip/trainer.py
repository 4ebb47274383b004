"""HadSkipTrainer: the homotopic recipe (stages 1–3 of docs/hadskip.md) on top of the HF ``Trainer``.

Stage 0 (the full fine-tuned teacher) is a plain ``Trainer`` run. This trainer then initialises the
gates from single-layer-skip importance, trains backbone and gates jointly while the budget anneals
from 1.0 to b and the gate temperature from τ_0 to τ_min, and finishes with straight-through hard
gates. The budget is enforced by a Lagrange multiplier updated by dual ascent after every optimiser
step; the loss distils from the frozen teacher. Only ``Trainer`` hooks are used, so ``accelerate
launch`` works unchanged.
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import EvalLoopOutput

from lmforge.core.errors import LmforgeError
from lmforge.hadskip.config import HadSkipConfig
from lmforge.hadskip.importance import estimate_layer_importance, initial_keep_probabilities, initialise_gates
from lmforge.hadskip.losses import budget_loss, distillation_loss, expected_usage
from lmforge.hadskip.model import HadSkipModel
from lmforge.hadskip.schedules import schedule_at
from lmforge.hadskip.training_args import HadSkipTrainingArguments
from lmforge.hadskip.usage import UsageStats

_DEFAULT_GATE_LR = HadSkipTrainingArguments.__dataclass_fields__["gate_learning_rate"].default


def usage_surrogate(probs: torch.Tensor, logits: torch.Tensor, config: HadSkipConfig) -> torch.Tensor:
    """Per-gate usage fed to r̂: the soft probabilities, or (``straight_through``) the hard 0/1 decisions
    in the forward pass with the gradient of σ(a) at temperature 1.

    At low temperature σ(a/τ) is flat for any gate whose logit is not near 0, so the budget term can
    no longer move a gate that is still open; σ(a) keeps pushing it, and the forward value is the
    usage that inference will measure.
    """
    if config.usage_estimate == "soft":
        return probs
    surrogate = torch.sigmoid(logits.float())
    return (probs >= config.threshold).float() + surrogate - surrogate.detach()


class HadSkipController(TrainerCallback, ExportableState):
    """Applies the homotopy schedule before each step and the dual-ascent update of λ after it.

    λ is exported with the trainer state, so resuming from a checkpoint continues with the same
    multiplier.
    """

    def __init__(self, lagrange_multiplier: float = 0.0) -> None:
        self.lagrange_multiplier = lagrange_multiplier
        self.budget_target = 1.0
        self.usage_estimate = math.nan
        self._usage_sum: torch.Tensor | None = None
        self._usage_count = 0

    def state(self) -> dict[str, Any]:
        return {"args": {"lagrange_multiplier": self.lagrange_multiplier}, "attributes": {}}

    def record_usage(self, usage: torch.Tensor) -> None:
        """Accumulate r̂ of one micro-batch (several per step under gradient accumulation)."""
        usage = usage.detach().float()
        self._usage_sum = usage if self._usage_sum is None else self._usage_sum + usage
        self._usage_count += 1

    def apply_schedule(self, model: HadSkipModel, step: int, max_steps: int) -> None:
        config = model.hadskip_config
        point = schedule_at(step, max_steps, config)
        model.set_mode(point.mode, temperature=point.temperature)
        model.freeze_gates(point.mode == "hard" and config.freeze_gates_in_hard_phase)
        self.budget_target = point.budget

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        saved = state.stateful_callbacks.get(type(self).__name__)
        if state.global_step > 0 and isinstance(saved, dict):  # resumed: continue with the saved λ
            self.lagrange_multiplier = float(saved.get("args", {}).get("lagrange_multiplier", self.lagrange_multiplier))
        self.apply_schedule(kwargs["model"], state.global_step, state.max_steps)

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.apply_schedule(kwargs["model"], state.global_step, state.max_steps)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        """λ ← max(0, λ + η·(r̂ − b_t)) (``augmented``: no clamp, an equality constraint), r̂ averaged
        over micro-batches and processes."""
        if self._usage_sum is None:
            return
        mean = self._usage_sum / self._usage_count
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(mean)
            mean = mean / dist.get_world_size()
        self.usage_estimate = float(mean)
        self._usage_sum, self._usage_count = None, 0
        config = kwargs["model"].hadskip_config
        gap = self.usage_estimate - self.budget_target
        if config.budget_mode == "lagrangian":
            self.lagrange_multiplier = max(0.0, self.lagrange_multiplier + config.eta_lambda * gap)
        elif config.budget_mode == "augmented":
            self.lagrange_multiplier += config.eta_lambda * gap

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        kwargs["model"].set_mode("fast")


class HadSkipTrainer(Trainer):
    """``Trainer`` for a :class:`HadSkipModel`: KD + budget loss, gate initialisation, homotopy, usage metrics.

    ``teacher_model`` is the frozen Stage-0 model; by default a copy of the student's backbone is
    taken at construction (the student starts as the fine-tuned model, so the copy is the teacher;
    to resume, build the trainer from the same Stage-0 model and pass ``resume_from_checkpoint``).
    Evaluation always runs the real inference path (hard gates, gather/scatter) and reports measured
    usage, speed-up, per-layer keep rates and whether usage is within b + ``budget_tolerance``.
    """

    loss_is_scaled_for_ga = False  # compute_loss returns a per-batch mean

    def __init__(
        self,
        model: HadSkipModel,
        args: TrainingArguments | None = None,
        *,
        teacher_model: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, HadSkipModel):
            raise LmforgeError(
                "HadSkipTrainer trains a HadSkipModel: wrap the classifier with HadSkipModel(model, config)"
            )
        if args is not None and args.ddp_find_unused_parameters is None:
            # Every layer and gate gets a gradient in soft/hard training unless the gates are frozen;
            # otherwise the Trainer would search the autograd graph every step (not a PreTrainedModel).
            args.ddp_find_unused_parameters = model.hadskip_config.freeze_gates_in_hard_phase
        super().__init__(model=model, args=args, **kwargs)
        self.hadskip_config = model.hadskip_config
        self.add_callback(HadSkipController(self.hadskip_config.lambda_init))
        self.layer_importance: torch.Tensor | None = None
        self.budget_shift = 0.0
        self.teacher: nn.Module | None = None
        if self.hadskip_config.kd_alpha > 0:
            teacher = teacher_model if teacher_model is not None else model.copy_backbone()
            teacher.requires_grad_(False)
            self.teacher = self.accelerator.prepare_model(teacher, evaluation_mode=True)

    @property
    def _hadskip_model(self) -> HadSkipModel:
        return self.accelerator.unwrap_model(self.model)

    @property
    def controller(self) -> HadSkipController:
        """The schedule/λ callback (looked up, since restoring callback state on resume replaces it)."""
        return next(cb for cb in self.callback_handler.callbacks if isinstance(cb, HadSkipController))

    # ------------------------------------------------------------- stage 1
    def initialise_gates(self) -> torch.Tensor:
        """Stage 1: set the gate biases in importance order (measured on training data) or depth order."""
        model = self._hadskip_model
        config = self.hadskip_config
        if config.init_order == "depth":  # a stand-in importance that falls with depth
            self.layer_importance = torch.arange(model.num_layers, 0, -1, dtype=torch.float32)
        else:
            self.layer_importance = estimate_layer_importance(model, self.get_train_dataloader(), config.init_examples)
        keep = initial_keep_probabilities(self.layer_importance, config.init_mean_keep, config.init_rank_step)
        initialise_gates(model, keep)
        return self.layer_importance

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> Any:
        """Initialise the gates from layer importance (unless resuming), run stages 2–3, then calibrate
        the budget (``calibrate_budget``)."""
        if self.hadskip_config.init_from_importance and not resume_from_checkpoint:
            self.initialise_gates()
        output = super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
        if self.hadskip_config.calibrate_budget:
            self.calibrate_budget()
        return output

    def calibrate_budget(self) -> float:
        """Shift the gates so that usage on the first ``init_examples`` training rows (in order, taken once so
        every bisection step sees the same rows) is within b + ``budget_tolerance``; kept in ``budget_shift``."""
        batches, seen = [], 0
        for batch in self.get_eval_dataloader(self.train_dataset):
            batches.append(batch)
            seen += len(batch["input_ids"])
            if seen >= self.hadskip_config.init_examples:
                break
        self.budget_shift = self._hadskip_model.calibrate_budget(batches, merge_usage=self._merge_usage)
        return self.budget_shift

    # ------------------------------------------------------- stages 2 and 3
    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The Trainer's optimiser, with the gates moved to their own group (own LR, no weight decay)."""
        optimizer = super().create_optimizer(model)
        if any(group.get("hadskip_gates") for group in optimizer.param_groups):
            return optimizer
        gates = [p for p in self._hadskip_model.gate_parameters() if p.requires_grad]
        gate_ids = {id(p) for p in gates}
        for group in optimizer.param_groups:
            group["params"] = [p for p in group["params"] if id(p) not in gate_ids]
        lr = getattr(self.args, "gate_learning_rate", _DEFAULT_GATE_LR)
        optimizer.add_param_group({"params": gates, "lr": lr, "weight_decay": 0.0, "hadskip_gates": True})
        return optimizer

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """KD loss + budget term while training; the plain task loss at evaluation."""
        if not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        config = self.hadskip_config
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        teacher_logits = None
        if self.teacher is not None:
            with torch.no_grad():
                teacher_logits = self.teacher(**inputs).logits
        loss = distillation_loss(outputs.logits, teacher_logits, labels, config.kd_alpha, config.kd_temperature)
        if outputs.keep_probs is not None:
            costs = None if config.layer_costs is None else torch.tensor(config.layer_costs)
            usage = expected_usage(usage_surrogate(outputs.keep_probs, outputs.keep_logits, config), costs)
            controller = self.controller
            loss = loss + budget_loss(
                usage,
                controller.budget_target,
                config.budget_mode,
                controller.lagrange_multiplier,
                config.penalty_gamma,
            )
            controller.record_usage(usage)
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the schedule and the multiplier to training logs."""
        if "loss" in logs:
            controller = self.controller
            logs = {
                **logs,
                "hadskip_budget_target": controller.budget_target,
                "hadskip_temperature": self._hadskip_model.temperature,
                "hadskip_lambda": controller.lagrange_multiplier,
                "hadskip_usage_estimate": controller.usage_estimate,
            }
        super().log(logs, start_time)

    # ----------------------------------------------------------- evaluation
    def _set_signature_columns_if_needed(self) -> None:
        """Keep the dataset columns the backbone accepts (HadSkipModel.forward takes **kwargs)."""
        if self._signature_columns is None:
            params = inspect.signature(self._hadskip_model.model.forward).parameters
            self._signature_columns = [*params, "label", "label_ids", *self.label_names]

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, Any, torch.Tensor | None]:
        """Predictions are the logits only: the gate outputs stay out of ``compute_metrics``."""
        if ignore_keys is None:
            ignore_keys = list(getattr(self._hadskip_model.config, "keys_to_ignore_at_inference", ["past_key_values"]))
        ignore_keys = [*ignore_keys, "keep_probs", "keep_mask", "keep_logits"]
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> EvalLoopOutput:
        """Evaluate with the inference path (hard gates, gather/scatter) and add measured-usage metrics."""
        model = self._hadskip_model
        mode, temperature = model.gate_mode, model.temperature
        model.set_mode("fast")
        model.freeze_gates(False)
        model.usage.reset()
        try:
            output = super().evaluation_loop(
                dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix
            )
        finally:
            model.set_mode(mode, temperature=temperature)
        self._merge_usage(model.usage)
        output.metrics.update(self._usage_metrics(output.metrics, metric_key_prefix))
        return output

    def _merge_usage(self, stats: UsageStats) -> None:
        """Sum the usage counts over processes (a no-op in a single process)."""
        if dist.is_available() and dist.is_initialized():
            keeps = self.accelerator.reduce(stats.layer_keeps.to(self.args.device), reduction="sum")
            histogram = self.accelerator.reduce(stats.executed_histogram.to(self.args.device), reduction="sum")
            stats.merge_(keeps, histogram)

    def _usage_metrics(self, metrics: dict[str, float], prefix: str) -> dict[str, float]:
        stats = self._hadskip_model.usage
        usage = stats.usage
        within = usage <= self.hadskip_config.budget + self.hadskip_config.budget_tolerance
        extra = {
            f"{prefix}_usage": usage,
            f"{prefix}_speedup": 1.0 / usage if usage > 0 else math.inf,
            f"{prefix}_within_budget": float(within),
        }
        extra.update({f"{prefix}_keep_rate_layer_{i}": rate for i, rate in enumerate(stats.layer_keep_rates)})
        # Checkpoint choice: metric_for_best_model="budgeted_<metric>" ranks only within-budget evaluations.
        best = self.args.metric_for_best_model or ""
        if best.startswith("budgeted_"):
            value = metrics.get(f"{prefix}_{best.removeprefix('budgeted_')}")
            if value is not None:
                worst = -math.inf if self.args.greater_is_better else math.inf
                extra[f"{prefix}_{best}"] = value if within else worst
        return extra

    # ------------------------------------------------------ save and load
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Save in the HadSkipModel layout (backbone + gates + config), not as a flat state dict."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        self._hadskip_model.save_pretrained(output_dir)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        target = self.accelerator.unwrap_model(model) if model is not None else self._hadskip_model
        target.load_pretrained_weights(resume_from_checkpoint)

    def _load_best_model(self) -> None:
        self._hadskip_model.load_pretrained_weights(self.state.best_model_checkpoint)
