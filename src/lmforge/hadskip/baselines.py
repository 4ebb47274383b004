"""Baselines at the same average layer budget: static truncation, static uniform layer drop, early exit.

- **Static** baselines keep a fixed subset of k layers (the first k, or k spread evenly and ending
  at the last layer) and are fine-tuned from the Stage-0 model with the same distillation loss as
  HadSkip. Their usage is exactly k/L, so they are compared at the nearest k/L ≤ b.
- **Early exit** (DeeBERT-style entropy threshold, PABEE-style weighted per-layer loss) adds a
  classifier after every layer but the last; an input leaves at the first layer whose prediction
  entropy is below a threshold calibrated on training data so that the average usage is ≤ b.
  Inference reuses HadSkip's gather/scatter layers: exiting before layer l means skipping every
  layer from l on, so a row that has exited costs nothing and the measured usage is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, Trainer

from lmforge.core.errors import LmforgeError
from lmforge.hadskip.config import HadSkipConfig
from lmforge.hadskip.layer import summary_positions
from lmforge.hadskip.losses import distillation_loss
from lmforge.hadskip.model import HadSkipModel, find_layers

_KEEP_LOGIT = 30.0  # a gate logit that keeps (or, negated, skips) a layer at any temperature


def static_budget_layers(num_layers: int, budget: float) -> int:
    """The largest k with k/L ≤ b (at least 1): a static model's nearest usage at or below the budget."""
    return max(1, int(budget * num_layers + 1e-9))


def static_layer_indices(num_layers: int, k: int, kind: str) -> list[int]:
    """Layers kept by a static baseline: ``truncate`` keeps the first k, ``uniform`` k evenly spaced
    ones ending at the last layer (every other layer at k = L/2)."""
    if not 1 <= k <= num_layers:
        raise LmforgeError(f"cannot keep {k} of {num_layers} layers")
    if kind == "truncate":
        return list(range(k))
    if kind == "uniform":
        return [round((i + 1) * num_layers / k) - 1 for i in range(k)]
    raise LmforgeError(f"unknown static baseline {kind!r}, expected truncate or uniform")


def keep_layers(model: PreTrainedModel, indices: Sequence[int]) -> PreTrainedModel:
    """Drop every layer not in ``indices`` from ``model`` in place (the config follows, so it saves and reloads)."""
    layers, _ = find_layers(model)
    kept = [layers[i] for i in indices]
    for position, layer in enumerate(kept):
        attention = getattr(layer, "self_attn", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = position
    for position, layer in enumerate(kept):  # in place: the backbone holds this very ModuleList
        layers[position] = layer
    del layers[len(kept) :]
    config = model.config.get_text_config()
    config.num_hidden_layers = len(kept)
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in indices]
    return model


class DistillTrainer(Trainer):
    """``Trainer`` with HadSkip's distillation loss from a frozen teacher; for a model with per-layer
    exits (:class:`EarlyExitModel`) the loss is PABEE's average over exits weighted by depth."""

    def __init__(self, *args: Any, teacher: nn.Module, kd_alpha: float, kd_temperature: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False  # compute_loss returns a per-batch mean: the Trainer scales it
        self.teacher = self.accelerator.prepare_model(teacher.requires_grad_(False).eval(), evaluation_mode=True)
        self.kd_alpha, self.kd_temperature = kd_alpha, kd_temperature

    def compute_loss(
        self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        with torch.no_grad():
            teacher_logits = self.teacher(**inputs).logits
        exits = outputs.get("exit_logits") or (outputs.logits,)
        weights = torch.arange(1, len(exits) + 1, dtype=torch.float32)
        losses = [distillation_loss(s, teacher_logits, labels, self.kd_alpha, self.kd_temperature) for s in exits]
        loss = sum(w * term for w, term in zip(weights / weights.sum(), losses, strict=True))
        return (loss, outputs) if return_outputs else loss


@dataclass
class _ExitState:
    threshold: float = 0.0
    exited: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class _ExitGate(nn.Module):
    """Replaces a HadSkip gate: keeps the layer unless the previous layer's classifier is confident.

    Exiting is sticky (an exited row skips every later layer), and the exit logits are remembered.
    """

    def __init__(self, head: nn.Module | None, hidden_size: int, state: _ExitState) -> None:
        super().__init__()
        object.__setattr__(self, "head", head)  # owned (and saved) by EarlyExitModel.heads, not twice
        self.hidden_size = hidden_size
        self._state = state

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        keep = torch.full(features.shape[:1], _KEEP_LOGIT, device=features.device)
        state = self._state
        if self.head is None:
            return keep
        logits = self.head(features[:, : self.hidden_size])
        if state.exited is None:
            state.exited = torch.zeros(len(logits), dtype=torch.bool, device=logits.device)
            state.logits = logits.new_zeros(logits.shape)
        new = ~state.exited & (prediction_entropy(logits) < state.threshold)
        state.logits = torch.where(new[:, None], logits, state.logits)
        state.exited = state.exited | new
        return torch.where(state.exited, -keep, keep)


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax over classes (DeeBERT's exit criterion), per row."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def _exit_head(hidden_size: int, num_labels: int) -> nn.Module:
    """A pooler-like classifier on the RMS-normalised summary token of an intermediate layer."""
    return nn.Sequential(
        nn.RMSNorm(hidden_size), nn.Linear(hidden_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, num_labels)
    )


class EarlyExitModel(nn.Module):
    """A classifier with an exit classifier after every layer but the last (the model's own head).

    Training (and ``exit_logits``) runs every layer; evaluation with ``exiting=True`` leaves each input
    at the first exit whose entropy is below :attr:`threshold`, skipping the remaining layers.
    """

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.skip = HadSkipModel(model, HadSkipConfig(gate_hidden=1))
        config = model.config.get_text_config()
        hidden, labels = config.hidden_size, model.config.num_labels
        self.heads = nn.ModuleList(_exit_head(hidden, labels) for _ in range(self.skip.num_layers - 1))
        self._state = _ExitState()
        for index, layer in enumerate(self.skip.gated_layers):
            layer.gate = _ExitGate(self.heads[index - 1] if index else None, hidden, self._state)
        self.exiting = False

    @property
    def threshold(self) -> float:
        return self._state.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._state.threshold = value

    @property
    def usage(self) -> Any:
        return self.skip.usage

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        if self.exiting and not self.training:
            self._state.exited, self._state.logits = None, None
            self.skip.set_mode("fast")
            logits = self.skip(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
            if self._state.exited is not None:
                logits = torch.where(self._state.exited[:, None], self._state.logits.to(logits.dtype), logits)
            return {"logits": logits}
        self.skip.set_mode("full")
        output = self.skip.model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, **kwargs
        )
        summary = self._summary(attention_mask, input_ids)
        rows = torch.arange(len(input_ids), device=input_ids.device)
        exits = [head(output.hidden_states[i + 1][rows, summary]) for i, head in enumerate(self.heads)]
        return {"logits": output.logits, "exit_logits": (*exits, output.logits)}

    def _summary(self, attention_mask: torch.Tensor | None, input_ids: torch.Tensor) -> torch.Tensor:
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        return summary_positions(mask, self.skip._state.summary_token)

    @torch.no_grad()
    def calibrate(self, batches: Iterable[Mapping[str, torch.Tensor]], budget: float) -> float:
        """Set (and return) the largest entropy threshold whose average usage on ``batches`` is ≤ b."""
        self.eval()
        entropies = []
        for batch in batches:
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            entropies.append(torch.stack([prediction_entropy(e) for e in self(**inputs)["exit_logits"][:-1]], 1))
        table = torch.cat(entropies)  # (N, L-1)
        num_layers = table.shape[1] + 1
        candidates = torch.unique(table).tolist()

        def usage(threshold: float) -> float:
            below = table < threshold
            executed = torch.where(below.any(1), below.int().argmax(1) + 1, num_layers)
            return float(executed.float().mean()) / num_layers

        # Usage falls as the threshold rises: binary-search the smallest threshold within budget
        # (the most accurate one); above every entropy, every input leaves at the first exit.
        best = candidates[-1] + 1.0
        low, high = 0, len(candidates) - 1
        while low <= high:
            middle = (low + high) // 2
            if usage(candidates[middle]) <= budget + 1e-9:
                best, high = candidates[middle], middle - 1
            else:
                low = middle + 1
        self.threshold = best
        return best
