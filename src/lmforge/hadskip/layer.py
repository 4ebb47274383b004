"""The gated wrapper that replaces each backbone layer in place, and the per-forward state it shares.

The wrapper receives exactly the arguments the backbone passes to its layer (BERT: hidden states and
an extended mask; Llama-style: hidden states, a 4-D mask or None, position embeddings, ...), so the
backbone's own forward keeps working. In ``fast`` mode a layer runs only on the rows that keep it:
every per-row tensor it was given is gathered to those rows, and the result is scattered back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lmforge.core.errors import LmforgeError
from lmforge.hadskip.gates import LayerGate, keep_probability, straight_through, summary_features
from lmforge.hadskip.schedules import GateMode

# Layer arguments that are shared by all rows although their first dimension may equal the batch size
# by coincidence (DeBERTa's relative-position tables).
_SHARED_ARGUMENTS = frozenset({"rel_embeddings", "relative_pos"})


@dataclass
class SkipState:
    """Mode and per-forward bookkeeping shared by all gated layers of one model.

    Modes: ``full`` runs every layer (optionally skipping ``forced_skip`` for importance estimates),
    ``soft`` mixes h + p·(F(h) − h), ``hard`` mixes with straight-through 0/1 gates (training, and the
    reference for ``fast``), ``fast`` runs each layer on its kept rows only (inference).
    """

    num_layers: int
    summary_token: str
    threshold: float = 0.5
    cap: int | None = None
    mode: GateMode = "fast"
    temperature: float = 1.0
    forced_skip: int | None = None
    gates_frozen: bool = False
    token_mask: torch.Tensor | None = None
    summary_index: torch.Tensor | None = None
    executed: torch.Tensor | None = None
    probs: list[torch.Tensor | None] = field(default_factory=list)
    logits: list[torch.Tensor | None] = field(default_factory=list)
    keeps: list[torch.Tensor | None] = field(default_factory=list)

    def begin(self, token_mask: torch.Tensor | None) -> None:
        """Start a forward pass: remember which tokens are real and where the summary token is."""
        self.token_mask = token_mask
        self.summary_index = None if token_mask is None else summary_positions(token_mask, self.summary_token)
        self.executed = None
        self.probs = [None] * self.num_layers
        self.logits = [None] * self.num_layers
        self.keeps = [None] * self.num_layers

    def gate_inputs(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token mask and summary index for ``hidden``; all tokens real if the forward gave no mask."""
        mask = self.token_mask
        if mask is None or mask.shape != hidden.shape[:2]:
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
            self.token_mask, self.summary_index = mask, summary_positions(mask, self.summary_token)
        return mask, self.summary_index

    def apply_cap(self, keep: torch.Tensor) -> torch.Tensor:
        """Drop layers beyond the strict per-input cap, counting executed layers row by row."""
        if self.cap is None:
            return keep
        if self.executed is None or self.executed.shape != keep.shape:
            self.executed = torch.zeros(keep.shape, dtype=torch.long, device=keep.device)
        keep = keep & (self.executed < self.cap)
        self.executed = self.executed + keep.long()
        return keep


def summary_positions(token_mask: torch.Tensor, summary_token: str) -> torch.Tensor:
    """Index of the first real token (``cls``) or the last real token (``last``) of every row."""
    real = token_mask != 0
    if summary_token == "cls":
        return real.int().argmax(dim=1)
    return real.shape[1] - 1 - real.flip(dims=[1]).int().argmax(dim=1)


def select_rows(value: Any, rows: torch.Tensor, batch_size: int) -> Any:
    """Index every per-row tensor in ``value`` (nested tuples/lists/dicts) to ``rows``.

    A tensor is per-row when its first dimension is the batch size; broadcast tensors (first dim 1,
    e.g. rotary cos/sin or a shared mask) and non-tensors pass through unchanged.
    """
    if isinstance(value, torch.Tensor):
        return value.index_select(0, rows) if value.dim() > 0 and value.shape[0] == batch_size else value
    if isinstance(value, (tuple, list)):
        return type(value)(select_rows(item, rows, batch_size) for item in value)
    if isinstance(value, dict):
        return {key: select_rows(item, rows, batch_size) for key, item in value.items()}
    return value


class ForwardsAttributes(nn.Module):
    """Answers unknown attributes from the wrapped module named by ``wrapped_attribute`` (as PEFT wrappers do).

    Backbones read attributes of their layers (e.g. Gemma-style ``attention_type``) and users read
    ``config`` or call ``gradient_checkpointing_enable`` on the model: both keep working when wrapped.
    """

    wrapped_attribute = ""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == self.wrapped_attribute:
                raise
            return getattr(getattr(self, self.wrapped_attribute), name)


class GatedLayer(ForwardsAttributes):
    """One backbone layer behind its gate: h ← m·F(h) + (1 − m)·h, with F never run where m = 0 in fast mode."""

    wrapped_attribute = "layer"

    def __init__(self, layer: nn.Module, gate: LayerGate, index: int, state: SkipState) -> None:
        super().__init__()
        self.layer = layer
        self.gate = gate
        self.index = index
        self._state = state  # plain attribute: shared, not a submodule
        self._extra_outputs: int | None = None  # None: unknown yet; -1: tensor output; n: tuple with n extras

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        state = self._state
        if state.mode == "full":
            keep = torch.full(hidden_states.shape[:1], self.index != state.forced_skip, device=hidden_states.device)
            state.keeps[self.index] = keep
            return self._run_rows(hidden_states, keep, args, kwargs)
        mask, summary_index = state.gate_inputs(hidden_states)
        logits = self.gate(summary_features(hidden_states, mask, summary_index))
        if state.gates_frozen:
            logits = logits.detach()
        probs = keep_probability(logits, state.temperature)
        state.probs[self.index] = probs
        state.logits[self.index] = logits
        keep = probs >= state.threshold
        if state.mode == "soft":
            state.keeps[self.index] = keep
            return self._mix(hidden_states, probs, args, kwargs)
        keep = state.apply_cap(keep)
        state.keeps[self.index] = keep
        if state.mode == "hard":
            return self._mix(hidden_states, straight_through(probs, state.threshold) * keep, args, kwargs)
        return self._run_rows(hidden_states, keep, args, kwargs)

    def _call_layer(self, hidden: torch.Tensor, args: tuple, kwargs: dict) -> tuple[torch.Tensor, tuple]:
        output = self.layer(hidden, *args, **kwargs)
        if isinstance(output, tuple):
            self._extra_outputs = len(output) - 1
            return output[0], output[1:]
        self._extra_outputs = -1
        return output, ()

    def _pack(self, hidden: torch.Tensor, extras: tuple) -> Any:
        return hidden if self._extra_outputs == -1 else (hidden, *extras)

    def _mix(self, hidden: torch.Tensor, weight: torch.Tensor, args: tuple, kwargs: dict) -> Any:
        new, extras = self._call_layer(hidden, args, kwargs)
        weight = weight.to(new.dtype).view(-1, *([1] * (new.dim() - 1)))
        return self._pack(weight * new + (1 - weight) * hidden, extras)

    def _run_rows(self, hidden: torch.Tensor, keep: torch.Tensor, args: tuple, kwargs: dict) -> Any:
        """Gather the kept rows, run the layer on them only, scatter back; skipped rows pass unchanged."""
        if bool(keep.all()):
            return self._pack(*self._call_layer(hidden, args, kwargs))
        if kwargs.get("past_key_values") is not None:
            raise LmforgeError("HadSkip cannot skip layers with a KV cache: call the model with use_cache=False")
        rows = keep.nonzero(as_tuple=True)[0]
        if rows.numel() == 0:
            if self._extra_outputs is None:
                # Never run yet: run it once on one row to learn whether it returns a tensor or a tuple.
                with torch.no_grad():
                    self._run_subset(hidden, rows.new_zeros(1), args, kwargs)
            return self._pack(hidden, (None,) * max(self._extra_outputs, 0))
        new, extras = self._run_subset(hidden, rows, args, kwargs)
        return self._pack(hidden.index_copy(0, rows, new.to(hidden.dtype)), (None,) * len(extras))

    def _run_subset(self, hidden: torch.Tensor, rows: torch.Tensor, args: tuple, kwargs: dict) -> tuple:
        batch = hidden.shape[0]
        sub_args = select_rows(args, rows, batch)
        sub_kwargs = {k: v if k in _SHARED_ARGUMENTS else select_rows(v, rows, batch) for k, v in kwargs.items()}
        return self._call_layer(hidden.index_select(0, rows), sub_args, sub_kwargs)
