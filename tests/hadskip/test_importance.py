"""Stage 1: single-layer-skip importance and the gate initialisation derived from it."""

from __future__ import annotations

import pytest
import torch

from lmforge.core.errors import LmforgeError
from lmforge.hadskip import estimate_layer_importance, initial_keep_probabilities, initialise_gates
from lmforge.hadskip.losses import task_loss

from ._tiny import padded_batch, wrap


def test_importance_is_the_loss_increase_of_skipping_one_layer(arch: str) -> None:
    model = wrap(arch).train()
    model.set_mode("soft", temperature=0.3)
    batch = {**padded_batch(), "labels": torch.tensor([0, 1, 1, 0, 1, 0])}
    importance = estimate_layer_importance(model, [batch, batch, batch], max_examples=12)
    assert importance.shape == (4,)
    assert (model.gate_mode, model.temperature) == ("soft", 0.3)  # the caller's mode is restored
    assert model.training  # and so is its train/eval state
    inputs = padded_batch()
    model.eval()
    with torch.no_grad():
        model.set_mode("full")
        full = task_loss(model(**inputs).logits, batch["labels"])
        model.set_mode("full", forced_skip=2)
        skip = task_loss(model(**inputs).logits, batch["labels"])
    assert float(importance[2]) == pytest.approx(float(skip - full), abs=1e-5)


def test_importance_needs_labels() -> None:
    with pytest.raises(LmforgeError, match="labels"):
        estimate_layer_importance(wrap("bert"), [padded_batch()])


def test_initial_keep_probabilities_follow_importance_ranks() -> None:
    importance = torch.tensor([0.1, 0.5, -0.2, 0.3])
    open_gates = initial_keep_probabilities(importance, mean_keep=1.0, rank_step=0.01)
    assert open_gates.tolist() == pytest.approx([0.97, 0.99, 0.96, 0.98])  # q_l = 1 − ε·rank(l)
    centred = initial_keep_probabilities(importance, mean_keep=0.5, rank_step=0.1)
    assert float(centred.mean()) == pytest.approx(0.5)
    assert centred.argsort().tolist() == importance.argsort().tolist()


def test_initialise_gates_sets_the_biases(arch: str) -> None:
    model = wrap(arch).eval()
    keep = torch.tensor([0.9, 0.6, 0.3, 0.8])
    initialise_gates(model, keep)
    with torch.no_grad():
        probs = model(**padded_batch()).keep_probs
    assert torch.allclose(probs[:, 0], torch.full((6,), 0.9), atol=1e-5)  # w2 = 0: input-independent at first
