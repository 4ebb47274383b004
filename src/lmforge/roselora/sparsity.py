"""RoseLoRA's sparsity controller, independent of any trainer.

Call `accumulate()` after `backward()` and before `optimizer.step()` (the score needs the
gradient and the pre-step weight), then `prune(step, optimizer)` after the step. The HF
`Trainer` does this through `RoseLoraCallback`; a custom loop calls the two methods itself.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from peft.tuners.lora import LoraLayer
from torch import nn

from lmforge.core.errors import LmforgeError
from lmforge.roselora.config import RoseLoraConfig


def keep_ratio(step: int, config: RoseLoraConfig) -> float:
    """τ(t): 1 while t ≤ t_i, τ + (1−τ)(1 − (t−t_i)/(t_f−t_i))^p until t_f, then τ."""
    t_i, t_f, tau = config.warmup_steps, config.prune_end_step, config.target_density
    if step <= t_i:
        return 1.0
    if step >= t_f:
        return tau
    return tau + (1.0 - tau) * (1.0 - (step - t_i) / (t_f - t_i)) ** config.schedule_power


def keep_count(ratio: float, n: int, *, parity: bool = False) -> int:
    """Entries to keep out of `n` at kept fraction `ratio`: ⌈ratio·n⌉, never 0 and never above n.

    `parity=True` gives the official kthvalue rule's count, n − int(n(1−ratio)) + 1 (one more
    than ⌈ratio·n⌉ whenever ratio·n is not an integer), capped at n where the official code crashes.
    """
    # round() first so that e.g. 0.1 * 10 = 1.0000000000000002 keeps 1, not 2.
    kept = n - int(n * (1 - ratio)) + 1 if parity else math.ceil(round(ratio * n, 9))
    return min(n, max(1, kept))


def topk_mask(scores: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Boolean mask with exactly `k` True entries per slice along `dim` (ties broken by `topk`)."""
    if not 1 <= k <= scores.shape[dim]:
        raise ValueError(f"k must be in [1, {scores.shape[dim]}], got {k}")
    if k == scores.shape[dim]:
        return torch.ones_like(scores, dtype=torch.bool)
    index = scores.topk(k, dim=dim, sorted=False).indices
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(dim, index, True)


@dataclass
class _Pair:
    """One adapted layer: its LoRA A (r × d_in) and B (d_out × r) weights and their importance EMAs."""

    name: str
    lora_a: nn.Parameter
    lora_b: nn.Parameter
    ema_a: torch.Tensor | None = None
    ema_b: torch.Tensor | None = None


def lora_pairs(model: nn.Module, adapter_name: str) -> list[tuple[str, nn.Parameter, nn.Parameter]]:
    """(module name, A weight, B weight) of every Linear-type LoRA layer that holds `adapter_name`."""
    pairs = []
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        unsupported = adapter_name in module.lora_embedding_A
        if adapter_name in module.lora_A:
            lora_a, lora_b = module.lora_A[adapter_name].weight, module.lora_B[adapter_name].weight
            unsupported = lora_a.dim() != 2 or lora_b.dim() != 2
            pairs.append((name, lora_a, lora_b))
        if unsupported:
            # An unmasked embedding or convolution adapter would leave ΔW dense without saying so.
            raise LmforgeError(
                f"RoseLoRA supports Linear targets only, not {type(module).__name__} {name} "
                "(remove it from target_modules)"
            )
    if not pairs:
        raise LmforgeError(f"the model has no LoRA layers for adapter {adapter_name!r}")
    return pairs


def active_adapter_name(model: nn.Module, adapter_name: str | None = None) -> str:
    """`adapter_name`, else the model's active adapter (PEFT names the first one "default")."""
    active = getattr(model, "active_adapter", None)  # a method, not a str, on transformers models
    return adapter_name or (active if isinstance(active, str) else "default")


def resolve_adapter(
    model: nn.Module, config: RoseLoraConfig | None, adapter_name: str | None
) -> tuple[RoseLoraConfig, str]:
    """The adapter to sparsify (the active one by default) and its RoseLoRA config."""
    adapter_name = active_adapter_name(model, adapter_name)
    if config is None:
        config = getattr(model, "peft_config", {}).get(adapter_name)
        if not isinstance(config, RoseLoraConfig):
            raise LmforgeError(
                f"adapter {adapter_name!r} was not created from a RoseLoraConfig; pass config=RoseLoraConfig(...)"
            )
    return config, adapter_name


class RoseLoraSparsifier:
    """Importance EMAs and row/column top-k masks for one LoRA adapter (the active one by default).

    Only `adapter_name`'s weights are touched (the official code masks every adapter). EMAs are
    fp32 tensors kept outside the model's state_dict; `state_dict()` exports them for resuming.
    """

    def __init__(self, model: nn.Module, config: RoseLoraConfig | None = None, adapter_name: str | None = None) -> None:
        self.config, self.adapter_name = resolve_adapter(model, config, adapter_name)
        self._pairs = [_Pair(name, a, b) for name, a, b in lora_pairs(model, self.adapter_name)]

    def keep_ratio(self, step: int) -> float:
        """τ(step) for this config."""
        return keep_ratio(step, self.config)

    @torch.no_grad()
    def accumulate(self) -> None:
        """Fold |w·grad| of every A and B entry into the EMAs; call before `optimizer.step()`."""
        beta = self.config.importance_beta
        for pair in self._pairs:
            pair.ema_a = _ema(pair.ema_a, pair.lora_a, beta)
            pair.ema_b = _ema(pair.ema_b, pair.lora_b, beta)

    @torch.no_grad()
    def prune(self, step: int, optimizer: torch.optim.Optimizer | None = None) -> float:
        """Apply the masks for optimizer step `step` (0-based, just taken); returns τ(step).

        Dense steps (τ = 1) and steps off `mask_interval` leave the weights alone.
        """
        ratio = self.keep_ratio(step)
        if ratio < 1.0 and step % self.config.mask_interval == 0:
            self._apply(ratio, optimizer)
        return ratio

    @torch.no_grad()
    def finalize(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Prune at the final density τ, e.g. when training stopped before t_f (no-op for τ = 1)."""
        if self.config.target_density < 1.0:
            self._apply(self.config.target_density, optimizer)

    def _apply(self, ratio: float, optimizer: torch.optim.Optimizer | None) -> None:
        parity, clamp = self.config.parity_kthvalue, self.config.value_clamp
        reset = optimizer is not None and self.config.reset_pruned_optimizer_state
        for pair in self._pairs:
            if pair.ema_a is None or pair.ema_b is None:
                raise RuntimeError(f"RoseLoRA: no importance for {pair.name}; call accumulate() before prune()")
            # Rows of A (dim 1 is d_in) and columns of B (dim 0 is d_out).
            for weight, ema, dim in ((pair.lora_a, pair.ema_a, 1), (pair.lora_b, pair.ema_b, 0)):
                mask = topk_mask(ema, keep_count(ratio, weight.shape[dim], parity=parity), dim)
                weight.masked_fill_(~mask, 0.0)
                if clamp is not None:
                    weight.clamp_(-clamp, clamp)
                if reset:
                    _reset_moments(optimizer, weight, mask)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The importance EMAs, keyed `<module>.lora_A` / `<module>.lora_B`."""
        state = {}
        for pair in self._pairs:
            for key, ema in ((f"{pair.name}.lora_A", pair.ema_a), (f"{pair.name}.lora_B", pair.ema_b)):
                if ema is not None:
                    state[key] = ema
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore EMAs saved by `state_dict()` (same model and adapter)."""
        expected = {f"{p.name}.lora_{s}" for p in self._pairs for s in "AB"}
        unknown = set(state) - expected
        if unknown:
            raise LmforgeError(f"RoseLoRA state has entries for unknown modules: {sorted(unknown)[:3]}")
        for pair in self._pairs:
            for side, weight in (("A", pair.lora_a), ("B", pair.lora_b)):
                ema = state.get(f"{pair.name}.lora_{side}")
                if ema is not None:
                    if ema.shape != weight.shape:
                        raise LmforgeError(f"RoseLoRA state for {pair.name}.lora_{side} has shape {tuple(ema.shape)}")
                    setattr(pair, f"ema_{side.lower()}", ema.to(weight.device, torch.float32, copy=True))


def _ema(ema: torch.Tensor | None, weight: nn.Parameter, beta: float) -> torch.Tensor | None:
    """β·EMA + (1−β)·|w·grad|; the first observation initialises the EMA (as the official code).

    Non-finite scores (an fp16 overflow step, which the grad scaler skips) count as 0 so that
    one bad step cannot turn an EMA into inf/NaN for the rest of training.
    """
    if weight.grad is None:
        return ema
    score = (weight.detach().float() * weight.grad.float()).abs_().nan_to_num_(nan=0.0, posinf=0.0)
    if ema is None:
        return score
    return ema.mul_(beta).add_(score, alpha=1.0 - beta)


def _reset_moments(optimizer: torch.optim.Optimizer, weight: nn.Parameter, keep: torch.Tensor) -> None:
    """Zero every per-entry optimizer state tensor (Adam's exp_avg/exp_avg_sq, SGD momentum) at pruned entries."""
    state = optimizer.state.get(weight)
    if not state:
        return
    shaped = [value for value in state.values() if torch.is_tensor(value) and value.shape == weight.shape]
    if not shaped:
        warnings.warn(
            f"{type(optimizer).__name__} keeps no per-entry state; reset_pruned_optimizer_state has no effect",
            stacklevel=3,
        )
    for value in shaped:
        value.masked_fill_(~keep, 0)
