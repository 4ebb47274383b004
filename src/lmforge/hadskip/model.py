"""HadSkipModel: a sequence classifier whose own layer modules are gated in place.

Like a PEFT model it wraps a ``transformers`` model and forwards unknown attributes to it. The layers
inside the backbone are replaced by :class:`GatedLayer`, so the backbone's forward (masks, rotary
embeddings, pooling, head) is untouched. A saved folder is the plain backbone checkpoint (loadable by
``AutoModelForSequenceClassification`` as the full model) plus ``hadskip_gates.safetensors`` and
``hadskip_config.json``.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModelForSequenceClassification, PreTrainedModel
from transformers.utils import ModelOutput

from lmforge.core.errors import LmforgeError
from lmforge.hadskip.config import HadSkipConfig
from lmforge.hadskip.gates import LayerGate
from lmforge.hadskip.layer import ForwardsAttributes, GatedLayer, SkipState
from lmforge.hadskip.schedules import GateMode
from lmforge.hadskip.usage import UsageStats

GATES_NAME = "hadskip_gates.safetensors"
WEIGHTS_NAME = "model.safetensors"
_MODES = ("full", "soft", "hard", "fast")
# Where the layer list lives below the base model: (attribute path, is decoder-only).
_LAYER_PATHS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("encoder", "layer"), False),  # BERT, RoBERTa, DeBERTa, ELECTRA, XLM-R
    (("layers",), True),  # Llama, Qwen, Gemma, Mistral, SmolLM
    (("language_model", "layers"), True),  # multimodal wrappers (Gemma 3)
)


@dataclass
class HadSkipOutput(ModelOutput):
    """The classifier output plus the gates' keep probabilities, logits and hard decisions, each (B, L)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    keep_probs: torch.Tensor | None = None
    keep_mask: torch.Tensor | None = None
    keep_logits: torch.Tensor | None = None


def find_layers(model: PreTrainedModel) -> tuple[nn.ModuleList, bool]:
    """The backbone's layer list and whether the backbone is decoder-only."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None) or model
    for path, is_decoder in _LAYER_PATHS:
        module: Any = base
        for name in path:
            module = getattr(module, name, None)
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            return module, is_decoder
    raise LmforgeError(
        f"HadSkip cannot find the layer list of {type(model).__name__}: supported are BERT-family encoders "
        "(<base>.encoder.layer) and decoder-only models (<base>.layers)"
    )


class HadSkipModel(ForwardsAttributes):
    """A ``*ForSequenceClassification`` model with one input-dependent skip gate before every layer.

    ``gate_mode`` selects the computation: ``soft``/``hard`` for training (every layer runs on every
    row), ``fast`` for inference (each layer runs only on the rows whose gate keeps it), ``full`` for
    the ungated model. Usage measured from hard decisions in eval mode accumulates in :attr:`usage`.
    """

    wrapped_attribute = "model"
    accepts_loss_kwargs = False  # the HF Trainer must not push num_items_in_batch into the backbone

    def __init__(self, model: PreTrainedModel, config: HadSkipConfig | None = None) -> None:
        super().__init__()
        self.hadskip_config = config or HadSkipConfig()
        layers, self.is_decoder = find_layers(model)
        if any(isinstance(layer, GatedLayer) for layer in layers):
            raise LmforgeError("this model is already wrapped by HadSkip")
        num_layers = len(layers)
        cfg = self.hadskip_config
        if cfg.layer_costs is not None and len(cfg.layer_costs) != num_layers:
            raise LmforgeError(
                f"HadSkip config: layer_costs has {len(cfg.layer_costs)} entries, the model has {num_layers} layers"
            )
        summary = cfg.summary_token if cfg.summary_token != "auto" else ("last" if self.is_decoder else "cls")
        self._state = SkipState(
            num_layers=num_layers,
            summary_token=summary,
            threshold=cfg.threshold,
            cap=cfg.max_layers(num_layers) if cfg.strict_budget else None,
        )
        hidden_size = model.config.get_text_config().hidden_size
        reference = next(model.parameters())
        for index, layer in enumerate(layers):
            gate = LayerGate(hidden_size, cfg.gate_hidden, cfg.gate_input_norm == "rms").to(reference.device)
            layers[index] = GatedLayer(layer, gate, index, self._state)
        self.model = model
        object.__setattr__(self, "_layer_list", layers)  # a reference, not a second registration
        self.usage = UsageStats(num_layers)
        self._signature = inspect.signature(model.forward)
        self._hooks = self._register_hooks()
        if self.is_decoder:
            # Skipping leaves holes in a KV cache; a classifier runs one pass and needs none.
            model.config.use_cache = False

    # ------------------------------------------------------------------ state
    @property
    def num_layers(self) -> int:
        return len(self._layer_list)

    @property
    def gated_layers(self) -> list[GatedLayer]:
        return list(self._layer_list)

    @property
    def gate_mode(self) -> GateMode:
        return self._state.mode

    @property
    def temperature(self) -> float:
        return self._state.temperature

    def set_mode(self, mode: GateMode, *, temperature: float | None = None, forced_skip: int | None = None) -> None:
        """Choose the computation (see the class docstring); ``forced_skip`` skips one layer in ``full``."""
        if mode not in _MODES:
            raise LmforgeError(f"unknown HadSkip gate mode {mode!r}, expected one of {', '.join(_MODES)}")
        if forced_skip is not None and not 0 <= forced_skip < self.num_layers:
            raise LmforgeError(f"forced_skip={forced_skip} is not a layer index (0..{self.num_layers - 1})")
        self._state.mode = mode
        self._state.forced_skip = forced_skip
        if temperature is not None:
            if temperature <= 0:
                raise LmforgeError(f"gate temperature must be positive, got {temperature}")
            self._state.temperature = temperature

    def set_strict_budget(self, strict: bool = True) -> None:
        """Cap every input at ceil(b·L) executed layers (or lift the cap), e.g. on a run trained without it."""
        self.hadskip_config.strict_budget = strict
        self._state.cap = self.hadskip_config.max_layers(self.num_layers) if strict else None

    def freeze_gates(self, frozen: bool = True) -> None:
        """Stop gradients into the gates (the hard phase may train the backbone only)."""
        self._state.gates_frozen = frozen

    @torch.no_grad()
    def calibrate_budget(
        self,
        batches: list[dict[str, torch.Tensor]],
        steps: int = 16,
        merge_usage: Callable[[UsageStats], None] | None = None,
    ) -> float:
        """Lower every gate's keep logit by the smallest common shift δ ≥ 0 at which the usage measured on
        ``batches`` (inference path) is at most b + ``budget_tolerance``; returns δ (0: already within, unchanged).

        With few layers usage is coarse (1/L per input), so a run can end on the static subset just
        above b (b 0.25 on 6 layers: 2 layers, usage 0.333); the shift drops a layer for the inputs
        whose gates are least sure, which brings usage to b. ``merge_usage`` sums the counts over
        processes, so every process finds the same δ.
        """
        mode, training = self.gate_mode, self.training
        biases = [layer.gate.fc2.bias for layer in self._layer_list]
        start = [b.clone() for b in biases]

        def shift_to(shift: float) -> None:
            for bias, initial in zip(biases, start, strict=True):
                bias.copy_(initial - shift)

        def usage_at(shift: float) -> float:
            shift_to(shift)
            self.usage.reset()
            for batch in batches:
                self(**{k: v for k, v in batch.items() if k != "labels"})
            if merge_usage is not None:
                merge_usage(self.usage)
            return self.usage.usage

        target = self.hadskip_config.budget + self.hadskip_config.budget_tolerance
        shift = 0.0
        self.eval()
        self.set_mode("fast")
        try:
            if usage_at(0.0) > target:
                low, high = 0.0, 1.0
                while usage_at(high) > target:
                    low, high = high, 2 * high
                for _ in range(steps):
                    middle = (low + high) / 2
                    low, high = (middle, high) if usage_at(middle) > target else (low, middle)
                shift = high
        finally:
            shift_to(shift)
            self.usage.reset()
            self.set_mode(mode)
            self.train(training)
        return shift

    def gate_parameters(self) -> Iterator[nn.Parameter]:
        for layer in self._layer_list:
            yield from layer.gate.parameters()

    # ---------------------------------------------------------------- forward
    def _register_hooks(self) -> list[torch.utils.hooks.RemovableHandle]:
        return [
            self.model.register_forward_pre_hook(self._before_forward, with_kwargs=True),
            self.model.register_forward_hook(self._after_forward),
        ]

    def _before_forward(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Capture the padding mask so gates can pool over real tokens only."""
        bound = self._signature.bind_partial(*args, **kwargs).arguments
        self._state.begin(self._token_mask(bound.get("attention_mask"), bound.get("input_ids")))

    def _token_mask(self, attention_mask: torch.Tensor | None, input_ids: torch.Tensor | None) -> torch.Tensor | None:
        if attention_mask is not None and attention_mask.dim() == 2:
            return attention_mask
        pad = self.model.config.get_text_config().pad_token_id
        if self.is_decoder and input_ids is not None and pad is not None:
            return (input_ids != pad).long()
        return None  # gates then treat every token as real

    def _after_forward(self, module: nn.Module, args: tuple, output: Any) -> None:
        """Accumulate usage of gated inference passes (training and ``full`` passes would only blur it)."""
        keeps = self._state.keeps
        if module.training or self._state.mode == "full" or any(k is None for k in keeps):
            return
        self.usage.update(torch.stack(keeps, dim=1))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> HadSkipOutput:
        """Run the wrapped classifier and attach the gates' keep probabilities and decisions."""
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
        state = self._state
        probs = None if any(p is None for p in state.probs) else torch.stack(state.probs, dim=1)
        keeps = torch.stack(state.keeps, dim=1) if all(k is not None for k in state.keeps) else None
        return HadSkipOutput(
            loss=output.get("loss"),
            logits=output.get("logits"),
            hidden_states=output.get("hidden_states"),
            attentions=output.get("attentions"),
            keep_probs=probs,
            keep_mask=keeps,
            keep_logits=None if probs is None else torch.stack(state.logits, dim=1),
        )

    # ------------------------------------------------------- plain backbone
    @contextlib.contextmanager
    def unwrapped(self) -> Iterator[PreTrainedModel]:
        """Temporarily put the original layers back (and remove the hooks): the plain HF model."""
        for handle in self._hooks:
            handle.remove()
        gated = list(self._layer_list)
        for index, layer in enumerate(gated):
            self._layer_list[index] = layer.layer
        try:
            yield self.model
        finally:
            for index, layer in enumerate(gated):
                self._layer_list[index] = layer
            self._hooks = self._register_hooks()

    def copy_backbone(self) -> PreTrainedModel:
        """A deep copy of the ungated model, e.g. the frozen Stage-0 teacher for distillation."""
        with self.unwrapped() as plain:
            return copy.deepcopy(plain)

    # ----------------------------------------------------------- save / load
    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:
        """Backbone checkpoint (safetensors) + ``hadskip_gates.safetensors`` + ``hadskip_config.json``."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        with self.unwrapped() as plain:
            plain.save_pretrained(directory, **kwargs)
        gates = {
            f"{i}.{name}": t.detach().contiguous().cpu()
            for i, layer in enumerate(self._layer_list)
            for name, t in layer.gate.state_dict().items()
        }
        save_file(gates, str(directory / GATES_NAME), metadata={"format": "pt"})
        self.hadskip_config.save_pretrained(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **model_kwargs: Any) -> HadSkipModel:
        """Load a folder written by :meth:`save_pretrained`; ``model_kwargs`` go to the backbone loader."""
        directory = Path(directory)
        config = HadSkipConfig.from_pretrained(directory)
        if not (directory / GATES_NAME).is_file():
            raise LmforgeError(f"{directory / GATES_NAME}: missing (the folder has a HadSkip config but no gates)")
        model_kwargs.setdefault("use_safetensors", True)
        backbone = AutoModelForSequenceClassification.from_pretrained(directory, **model_kwargs)
        model = cls(backbone, config)
        model.load_gates(directory)
        return model

    def load_gates(self, directory: str | Path) -> None:
        """Load gate weights saved by :meth:`save_pretrained` into this model."""
        path = Path(directory) / GATES_NAME
        tensors = load_file(str(path))
        for index, layer in enumerate(self._layer_list):
            prefix = f"{index}."
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                layer.gate.load_state_dict(state)
            except RuntimeError as exc:
                raise LmforgeError(f"{path}: gates do not match this model ({str(exc).splitlines()[0]})") from None

    def load_pretrained_weights(self, directory: str | Path) -> None:
        """Load backbone and gate weights of a saved folder into this (already wrapped) model in place."""
        path = Path(directory) / WEIGHTS_NAME
        if not path.is_file():
            raise LmforgeError(f"{path}: missing (sharded backbones are not supported for in-place loading)")
        with self.unwrapped() as plain:
            result = plain.load_state_dict(load_file(str(path)), strict=False)
        if result.unexpected_keys:
            raise LmforgeError(f"{path}: weights do not match this model (e.g. {result.unexpected_keys[0]})")
        self.load_gates(directory)
