"""`RoseLoraConfig`: a PEFT `LoraConfig` plus RoseLoRA's sparsity schedule.

RoseLoRA adds no parameters to LoRA, only a training-time rule, so the adapter stays
`peft_type = LORA`: `get_peft_model`, `PeftModel.from_pretrained`, `merge_and_unload`,
multi-adapter use and QLoRA work unchanged. `save_pretrained` writes a plain-LoRA
`adapter_config.json` (any PEFT, vLLM or converter reads it without warnings) and the
sparsity fields beside it in `roselora_config.json`, which `RoseLoraConfig.from_pretrained`
reads back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

from peft import LoraConfig

from lmforge.core.errors import LmforgeError

ROSELORA_CONFIG_NAME = "roselora_config.json"

# Initialisations that keep the adapter a no-op or a plain random start. The others (PiSSA,
# OLoRA, CorDA, LoftQ, EVA, orthogonal, MiCA, LoRA-GA) start from dense A and B that are
# subtracted from (or tied to) the base weight, so pruning them changes the model at once.
_SPARSE_SAFE_INITS = (True, False, "gaussian")


@dataclass
class RoseLoraConfig(LoraConfig):
    """LoRA whose every row of A and column of B keeps a fraction τ(t) of its entries.

    τ(t) is 1 up to `warmup_steps` (t_i), falls on a cubic to `target_density` (τ) at
    `prune_end_step` (t_f) and stays there. Steps are 0-based optimizer steps. Defaults are
    the official knowledge-editing schedule; `paper_knowledge_editing()` gives the whole
    official recipe (rank, α, clamp, kthvalue keep rule).
    """

    target_density: float = field(
        default=0.05, metadata={"help": "τ: final kept fraction of each row of A and column of B, in (0, 1]."}
    )
    importance_beta: float = field(
        default=0.8, metadata={"help": "β of the EMA of |w·grad|; the first observation initialises it."}
    )
    warmup_steps: int = field(
        default=3, metadata={"help": "t_i: the adapter stays dense while step ≤ t_i (not LR warmup)."}
    )
    prune_end_step: int = field(default=20, metadata={"help": "t_f: the kept fraction reaches τ at this step."})
    total_step: int | None = field(
        default=None, metadata={"help": "T: planned optimizer steps; when set, t_f ≤ T is checked."}
    )
    schedule_power: float = field(default=3.0, metadata={"help": "Exponent of the keep-ratio schedule."})
    mask_interval: int = field(default=1, metadata={"help": "Recompute and apply the masks every this many steps."})
    value_clamp: float | None = field(
        default=None,
        metadata={
            "help": "Clamp A and B to ±value with each masking while τ(t) < 1 (official KE: 3e-3, for width 4096)."
        },
    )
    reset_pruned_optimizer_state: bool = field(
        default=False, metadata={"help": "Zero the optimizer moments of pruned entries so they do not regrow."}
    )
    parity_kthvalue: bool = field(
        default=False,
        metadata={
            "help": "Official kthvalue keep count n − int(n(1−ρ)) + 1 instead of the exact ⌈ρ·n⌉ (ties are still "
            "broken by topk; the official threshold keeps every tied entry)."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._validate_sparsity()

    def _validate_sparsity(self) -> None:
        def fail(message: str) -> None:
            raise LmforgeError(f"RoseLoraConfig: {message}")

        if not 0.0 < self.target_density <= 1.0:
            fail(f"target_density must be in (0, 1], got {self.target_density}")
        if not 0.0 <= self.importance_beta < 1.0:
            fail(f"importance_beta must be in [0, 1), got {self.importance_beta}")
        if self.warmup_steps < 0 or self.prune_end_step <= self.warmup_steps:
            fail(
                f"need 0 ≤ warmup_steps < prune_end_step, got warmup_steps={self.warmup_steps}, "
                f"prune_end_step={self.prune_end_step}"
            )
        if self.total_step is not None and self.total_step < self.prune_end_step:
            fail(f"prune_end_step ({self.prune_end_step}) must not exceed total_step ({self.total_step})")
        if self.schedule_power <= 0:
            fail(f"schedule_power must be > 0, got {self.schedule_power}")
        if self.mask_interval < 1:
            fail(f"mask_interval must be ≥ 1, got {self.mask_interval}")
        if self.value_clamp is not None and self.value_clamp <= 0:
            fail(f"value_clamp must be > 0 or None, got {self.value_clamp}")
        if self.use_dora:
            fail("use_dora=True is not supported: DoRA's magnitude vector rescales whole rows, so ΔW is dense")
        if self.init_lora_weights not in _SPARSE_SAFE_INITS:
            fail(
                f"init_lora_weights={self.init_lora_weights!r} starts from dense A and B tied to the base weight; "
                "use True (default), 'gaussian' or False"
            )

    @classmethod
    def sparsity_field_names(cls) -> tuple[str, ...]:
        """The fields RoseLoRA adds to `LoraConfig`, in declaration order."""
        lora = {f.name for f in dataclasses.fields(LoraConfig)}
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in lora)

    def sparsity_dict(self) -> dict[str, Any]:
        """The RoseLoRA fields only (what `roselora_config.json` holds)."""
        return {name: getattr(self, name) for name in self.sparsity_field_names()}

    def to_dict(self) -> dict[str, Any]:
        """The plain-LoRA part only, so `adapter_config.json` loads in any LoRA reader."""
        rv = super().to_dict()
        for name in self.sparsity_field_names():
            rv.pop(name)
        return rv

    def save_pretrained(self, save_directory: str, **kwargs: Any) -> None:
        """Write `adapter_config.json` (plain LoRA) and `roselora_config.json` (sparsity fields)."""
        super().save_pretrained(save_directory, **kwargs)
        with open(os.path.join(save_directory, ROSELORA_CONFIG_NAME), "w") as fh:
            json.dump(self.sparsity_dict(), fh, indent=2, sort_keys=True)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str, subfolder: str | None = None, **kwargs: Any
    ) -> RoseLoraConfig:
        """Read both files back; a plain LoRA adapter (no sidecar) gets the default sparsity fields."""
        lora = LoraConfig.from_pretrained(pretrained_model_name_or_path, subfolder=subfolder, **kwargs)
        directory = os.path.join(pretrained_model_name_or_path, subfolder or "")
        sidecar = os.path.join(directory, ROSELORA_CONFIG_NAME)
        sparsity: dict[str, Any] = {}
        if os.path.isfile(sidecar):
            with open(sidecar) as fh:
                sparsity = json.load(fh)
            unknown = set(sparsity) - set(cls.sparsity_field_names())
            if unknown:
                raise LmforgeError(f"{sidecar}: unknown RoseLoRA fields {sorted(unknown)}")
        else:
            warnings.warn(
                f"{directory} has no {ROSELORA_CONFIG_NAME}; using the default RoseLoRA sparsity settings",
                stacklevel=2,
            )
        return cls(**lora.to_dict(), **sparsity)

    @classmethod
    def paper_knowledge_editing(cls, **overrides: Any) -> RoseLoraConfig:
        """The official EasyEdit recipe (LLaMA-2-7b): r 8, α 32, dropout 0.1 on q/v, τ 0.05, clamp ±3e-3,
        kthvalue keep counts. The clamp was tuned for width 4096; on small models it can block edits."""
        recipe: dict[str, Any] = {
            "r": 8,
            "lora_alpha": 32,
            "lora_dropout": 0.1,
            "target_modules": ["q_proj", "v_proj"],
            "task_type": "CAUSAL_LM",
            "target_density": 0.05,
            "importance_beta": 0.8,
            "warmup_steps": 3,
            "prune_end_step": 20,
            "total_step": 25,
            "value_clamp": 3e-3,
            "parity_kthvalue": True,
        }
        return cls(**{**recipe, **overrides})
