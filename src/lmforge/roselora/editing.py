"""The knowledge-editing training loop of the official code, for every editing method.

One edit is a few optimizer steps of target-token cross-entropy on `prompt + " " + target_new`
(mean over each request's target tokens, then over requests), Adam without a scheduler, on
whatever parameters are trainable (a LoRA/AdaLoRA adapter, or one MLP layer for FT-L).
`EditHooks` is what differs between methods: with a `RoseLoraSparsifier` the loop is
RoseLoRA's (importance after `backward()`, masks after the step), AdaLoRA re-allocates its
ranks after the step and adds its orthogonality penalty to the loss.
Two fixes over the official loop: the loss is masked by label position (not by assuming left
padding), and the early stop really uses the loss (the official meter is never updated, so it
always stops after step t_f + 1).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedTokenizerBase

from lmforge.core.errors import LmforgeError
from lmforge.roselora.metrics import IGNORE_INDEX, ProbeBatch, encode_probes
from lmforge.roselora.requests import EditRequest
from lmforge.roselora.sparsity import RoseLoraSparsifier


class EditHooks:
    """What a method adds around each optimizer step; the base class adds nothing (dense LoRA, FT-L)."""

    stop_after: int = -1  # the loss-based early stop may fire only after this step

    def regularizer(self) -> torch.Tensor | None:
        """A term added to the loss (AdaLoRA's orthogonality penalty), or None."""
        return None

    def before_step(self) -> None:
        """After `backward()`, before `optimizer.step()`: read gradients."""

    def after_step(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        """After `optimizer.step()`, before `zero_grad()`, with the 0-based step just taken."""

    def finish(self, optimizer: torch.optim.Optimizer) -> None:
        """After the last step (also after an early stop)."""


class SparsifierHooks(EditHooks):
    """RoseLoRA: EMA importance before the step, row/column masks after it, final τ at the end."""

    def __init__(self, sparsifier: RoseLoraSparsifier) -> None:
        self.sparsifier = sparsifier
        self.stop_after = sparsifier.config.prune_end_step

    def before_step(self) -> None:
        self.sparsifier.accumulate()

    def after_step(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        self.sparsifier.prune(step, optimizer)

    def finish(self, optimizer: torch.optim.Optimizer) -> None:
        # a no-op after t_f; before it (early stop, few steps) it imposes τ
        self.sparsifier.finalize(optimizer)


@dataclass(frozen=True)
class EditResult:
    """How the edit's optimisation went."""

    steps: int
    loss: float
    seconds: float


def target_loss(model: nn.Module, batch: ProbeBatch) -> torch.Tensor:
    """Cross-entropy of the target tokens: mean per request, then mean over requests (EasyEdit)."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
    labels = batch.labels[:, 1:]
    token_loss = F.cross_entropy(
        logits.float().transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
    )  # (batch, positions), 0 at ignored positions
    is_target = labels != IGNORE_INDEX
    return (token_loss.sum(dim=1) / is_target.sum(dim=1)).mean()


def train_edit(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[EditRequest],
    *,
    steps: int = 25,
    lr: float = 5e-4,
    stop_loss: float | None = 0.1,
    sparsifier: RoseLoraSparsifier | None = None,
    start_step: int = 0,
    hooks: EditHooks | None = None,
) -> EditResult:
    """Fit the trainable parameters of `model` to the requests' targets.

    Stops early once the loss is below `stop_loss` — for RoseLoRA only after the schedule's
    t_f, as the official code. A RoseLoRA edit always ends pruned to the final τ. `sparsifier`
    is shorthand for `hooks=SparsifierHooks(sparsifier)`.
    `start_step` continues the schedule of earlier edits on the same adapter (sequential
    editing), so the adapter does not re-densify for t_i steps on every edit.
    """
    if steps < 1:
        raise LmforgeError(f"steps must be ≥ 1, got {steps}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise LmforgeError("the model has no trainable parameters to edit")
    device = params[0].device
    batch = encode_probes(tokenizer, [r.edit_probe for r in requests]).to(device)
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=0.0)
    if sparsifier is not None:
        hooks = SparsifierHooks(sparsifier)
    hooks = hooks or EditHooks()
    was_training = model.training
    model.train()
    started = time.perf_counter()
    for step in range(start_step, start_step + steps):
        loss = target_loss(model, batch)
        penalty = hooks.regularizer()
        (loss if penalty is None else loss + penalty).backward()
        hooks.before_step()
        optimizer.step()
        hooks.after_step(step, optimizer)
        optimizer.zero_grad(set_to_none=True)
        if stop_loss is not None and step > hooks.stop_after and loss.item() < stop_loss:
            break
    hooks.finish(optimizer)
    model.train(was_training)
    return EditResult(steps=step + 1 - start_step, loss=loss.item(), seconds=time.perf_counter() - started)
