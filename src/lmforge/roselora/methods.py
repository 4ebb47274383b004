"""The editing methods `lmforge lora edit` compares, attached to a model for one edit (or one sequential run).

Every method trains in the same loop (`editing.train_edit`) and is scored by the same metrics;
only what is trainable and what happens around each optimizer step differ:

- `roselora`: a LoRA adapter pruned to row/column-sparse A and B (`RoseLoraSparsifier`).
- `lora`: the same adapter (same rank, targets, α, dropout), dense.
- `adalora`: PEFT's `AdaLoraConfig` (SVD-form adapter, ranks re-allocated by PEFT's
  `update_and_allocate` after every step, orthogonality penalty added to the loss) with
  `init_r` 1.5× and `target_r` 1× the rank, rank warm-up over the first 10 % of the steps and
  the final budget over the last 20 %.
- `ft-l`: plain fine-tuning of one MLP down-projection (EasyEdit's FT baseline, with the same
  target-token loss as the other methods), restored to its original weights afterwards.

FT-L's layer is, unless given, `(21 * num_layers) // 32`: the relative depth of EasyEdit's FT
hyperparameters for LLaMA-2-7b (layer 21 of 32), i.e. layer 19 of 30 for
`smollm2-135m-instruct` and 11 of 18 for `gemma3-270m`. Mid-depth MLPs are where ROME/MEMIT
locate factual associations, and the last third of the network stays untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from peft import AdaLoraConfig, LoraConfig, get_peft_model
from peft.tuners.lora import LoraLayer
from torch import nn

from lmforge.core.errors import LmforgeError
from lmforge.roselora.config import RoseLoraConfig
from lmforge.roselora.editing import EditHooks, SparsifierHooks
from lmforge.roselora.report import overall_density, sparsity_report
from lmforge.roselora.sparsity import RoseLoraSparsifier

if TYPE_CHECKING:
    from lmforge.roselora.edit_run import EditRunConfig

METHODS = ("roselora", "lora", "adalora", "ft-l")
FT_MODULE = "layers.{}.mlp.down_proj"  # Llama, Gemma, Mistral, Qwen naming


@dataclass(frozen=True)
class DeltaW:
    """How much of the adapted weights an edit changed.

    `density` is the non-zero fraction of ΔW over all adapted matrices; `bound` is RoseLoRA's
    Σρ_A·ρ_B bound over the same entries (None for the other methods); `nonzero_params` counts
    the non-zero trainable entries (A and B, plus AdaLoRA's E; the changed entries for FT-L).
    """

    density: float
    bound: float | None
    nonzero_params: int


@dataclass
class Attached:
    """A method attached to a model: train and score `model`, then call `detach()` to restore it."""

    model: nn.Module
    hooks: EditHooks
    delta_w: Callable[[], DeltaW]
    detach: Callable[[], None]


def default_ft_layer(num_layers: int) -> int:
    """FT-L's layer: the relative depth of EasyEdit's LLaMA-2-7b FT setting (layer 21 of 32)."""
    return (21 * num_layers) // 32


def adapter_config(config: EditRunConfig, total_steps: int) -> LoraConfig | None:
    """The PEFT config of the method's adapter (None for FT-L); `total_steps` plans AdaLoRA's budget."""
    lora = {
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "target_modules": list(config.target_modules),
        "task_type": "CAUSAL_LM",
    }
    if config.method == "lora":
        return LoraConfig(r=config.rank, **lora)
    if config.method == "roselora":
        return RoseLoraConfig(
            r=config.rank, **lora, target_density=config.keep, value_clamp=config.clamp, parity_kthvalue=config.parity
        )
    if config.method == "adalora":
        return AdaLoraConfig(
            init_r=max(config.rank, round(1.5 * config.rank)),
            target_r=config.rank,
            total_step=total_steps,
            tinit=total_steps // 10,
            tfinal=total_steps // 5,
            **lora,
        )
    return None


def attach(model: nn.Module, config: EditRunConfig, total_steps: int) -> Attached:
    """Prepare `model` for `config.method`; `total_steps` is the optimizer steps planned in all."""
    if config.method == "ft-l":
        return _attach_layer(model, config)
    peft_model = get_peft_model(model, adapter_config(config, total_steps))
    if config.method == "roselora":
        hooks: EditHooks = SparsifierHooks(RoseLoraSparsifier(peft_model))

        def delta_w() -> DeltaW:
            modules = sparsity_report(peft_model)  # raises if ΔW ever exceeds the Σρρ bound
            density, bound = overall_density(modules)
            return DeltaW(density, bound, nonzero_params=sum(m.nnz_a + m.nnz_b for m in modules))

    else:
        hooks = AdaLoraHooks(peft_model) if config.method == "adalora" else EditHooks()

        def delta_w() -> DeltaW:
            return _adapter_delta(peft_model)

    return Attached(peft_model, hooks, delta_w, lambda: peft_model.unload())


class AdaLoraHooks(EditHooks):
    """PEFT's AdaLoRA in a custom loop: orthogonality penalty in the loss, rank allocation after each step.

    PEFT adds the penalty inside `AdaLoraModel.forward` only when labels reach the model; the
    edit loss is computed outside it, so it is added here, with PEFT's definition. Early stop
    waits until the final rank budget is in place.
    """

    def __init__(self, peft_model: nn.Module) -> None:
        self.tuner = peft_model.base_model
        config = self.tuner.peft_config[self.tuner.trainable_adapter_name]
        self.weight = config.orth_reg_weight
        self.stop_after = config.total_step - config.tfinal

    def regularizer(self) -> torch.Tensor | None:
        terms = []
        for name, param in self.tuner.model.named_parameters():
            if param.requires_grad and ("lora_A" in name or "lora_B" in name):
                cov = param @ param.T if "lora_A" in name else param.T @ param
                eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
                terms.append(torch.linalg.matrix_norm(cov - eye))
        return self.weight * torch.stack(terms).mean() if terms else None

    def after_step(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        self.tuner.update_and_allocate(step)


@torch.no_grad()
def _adapter_delta(peft_model: nn.Module) -> DeltaW:
    """ΔW of every LoRA-type layer of the active adapter, from PEFT's own `get_delta_weight`."""
    adapter = peft_model.active_adapter
    nnz = entries = 0
    for module in peft_model.modules():
        if isinstance(module, LoraLayer) and adapter in module.lora_A:
            delta = module.get_delta_weight(adapter)
            nnz += int(torch.count_nonzero(delta))
            entries += delta.numel()
    params = sum(int(torch.count_nonzero(p)) for p in peft_model.parameters() if p.requires_grad)
    return DeltaW(density=nnz / max(entries, 1), bound=None, nonzero_params=params)


def _attach_layer(model: nn.Module, config: EditRunConfig) -> Attached:
    """FT-L: only one MLP down-projection trains; its weights and every requires_grad flag come back on detach."""
    num_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if config.ft_layer is None and num_layers is None:
        raise LmforgeError("ft-l: the model config has no num_hidden_layers; pass the layer with --ft-layer")
    index = default_ft_layer(num_layers) if config.ft_layer is None else config.ft_layer
    suffix = FT_MODULE.format(index)
    found = [m for name, m in model.named_modules() if name == suffix or name.endswith(f".{suffix}")]
    if len(found) != 1 or not isinstance(getattr(found[0], "weight", None), nn.Parameter):
        raise LmforgeError(
            f"ft-l: the model has no single module '*.{suffix}' (ft-l needs a Llama-style MLP and a layer index "
            f"below {num_layers})"
        )
    weight = found[0].weight
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    original = weight.detach().clone()
    model.requires_grad_(False)
    weight.requires_grad_(True)

    @torch.no_grad()
    def delta_w() -> DeltaW:
        changed = int(torch.count_nonzero(weight - original))
        return DeltaW(density=changed / weight.numel(), bound=None, nonzero_params=changed)

    @torch.no_grad()
    def detach() -> None:
        weight.copy_(original)
        for name, param in model.named_parameters():
            param.requires_grad_(flags[name])

    return Attached(model, EditHooks(), delta_w, detach)
