"""Sparse adapter files: only the non-zeros of each LoRA A and B, loaded back as a normal PEFT model.

A RoseLoRA adapter at τ = 0.05 is ~95 % zeros, so `save_sparse` stores each LoRA weight as
int32 flat indices plus values (8 bytes per kept fp32 entry instead of 4 per entry) in
safetensors; everything else in the adapter state dict (e.g. `modules_to_save`) stays dense.
The config files are the usual ones, so `load_sparse` returns an ordinary `PeftModel`.
"""

from __future__ import annotations

import copy
import json
import math
import os

import torch
from peft import PeftConfig, PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from lmforge.core.errors import LmforgeError
from lmforge.roselora.config import ROSELORA_CONFIG_NAME, RoseLoraConfig
from lmforge.roselora.sparsity import active_adapter_name

SPARSE_WEIGHTS_NAME = "adapter_model.sparse.safetensors"
_FORMAT = "roselora-sparse-v1"
_SPARSE_SUFFIXES = ("lora_A.weight", "lora_B.weight")


def save_sparse(model: PeftModel, save_directory: str, adapter_name: str | None = None) -> None:
    """Write the adapter's config and its weights with LoRA A/B as (indices, values) pairs."""
    adapter_name = active_adapter_name(model, adapter_name)
    os.makedirs(save_directory, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    shapes: dict[str, list[int]] = {}
    for key, value in get_peft_model_state_dict(model, adapter_name=adapter_name).items():
        if key.endswith(_SPARSE_SUFFIXES):
            flat = value.detach().reshape(-1)
            index = flat.nonzero().squeeze(1)
            tensors[f"{key}.indices"] = index.to(torch.int32).cpu()
            tensors[f"{key}.values"] = flat[index].cpu()
            shapes[key] = list(value.shape)
        else:
            tensors[key] = value.detach().cpu().contiguous()
    save_file(
        tensors, os.path.join(save_directory, SPARSE_WEIGHTS_NAME), {"format": _FORMAT, "shapes": json.dumps(shapes)}
    )
    config = copy.deepcopy(model.peft_config[adapter_name])
    config.inference_mode = True
    config.save_pretrained(save_directory)


def load_sparse_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The dense adapter state dict stored in a `save_sparse` file."""
    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata() or {}
        if metadata.get("format") != _FORMAT:
            raise LmforgeError(f"{path}: not a RoseLoRA sparse adapter (format {metadata.get('format')!r})")
        shapes = json.loads(metadata["shapes"])
        names = list(handle.keys())  # safe_open handles are not iterable
        state = {key: handle.get_tensor(key) for key in names if not key.endswith((".indices", ".values"))}
        for key, shape in shapes.items():
            values = handle.get_tensor(f"{key}.values")
            dense = torch.zeros(math.prod(shape), dtype=values.dtype)
            dense[handle.get_tensor(f"{key}.indices").long()] = values
            state[key] = dense.view(shape)
    return state


def load_sparse(
    model: nn.Module, directory: str, adapter_name: str = "default", is_trainable: bool = False
) -> PeftModel:
    """Wrap `model` with the adapter saved by `save_sparse` (as `PeftModel.from_pretrained` would)."""
    path = os.path.join(directory, SPARSE_WEIGHTS_NAME)
    if not os.path.isfile(path):
        raise LmforgeError(f"{directory}: no {SPARSE_WEIGHTS_NAME} (was it written by save_sparse?)")
    has_sidecar = os.path.isfile(os.path.join(directory, ROSELORA_CONFIG_NAME))
    config = RoseLoraConfig.from_pretrained(directory) if has_sidecar else PeftConfig.from_pretrained(directory)
    config.inference_mode = not is_trainable
    peft_model = get_peft_model(model, config, adapter_name=adapter_name)
    result = set_peft_model_state_dict(peft_model, load_sparse_state_dict(path), adapter_name=adapter_name)
    if result.unexpected_keys:
        raise LmforgeError(f"{path}: weights for modules the model does not have: {result.unexpected_keys[:3]}")
    if not is_trainable:
        peft_model.eval()
    return peft_model
