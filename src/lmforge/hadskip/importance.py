"""Stage 1, fine-grained initialisation: order the gates by how much skipping each layer alone hurts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from lmforge.core.errors import LmforgeError
from lmforge.hadskip.losses import task_loss
from lmforge.hadskip.model import HadSkipModel


@torch.no_grad()
def estimate_layer_importance(
    model: HadSkipModel, batches: Iterable[Mapping[str, torch.Tensor]], max_examples: int = 2000
) -> torch.Tensor:
    """I_l = E[loss(skip only layer l)] − E[loss(full model)], over up to ``max_examples`` labelled rows.

    Each skip-one pass runs through the gather/scatter path, so it costs L−1 layers, not L.
    """
    previous_mode, was_training = model.gate_mode, model.training
    totals = torch.zeros(model.num_layers + 1, dtype=torch.float64)
    seen = 0
    model.eval()
    try:
        for batch in batches:
            if "labels" not in batch:
                raise LmforgeError("layer importance needs labelled batches (a 'labels' column)")
            take = min(len(batch["labels"]), max_examples - seen)
            inputs = {k: v[:take] if isinstance(v, torch.Tensor) else v for k, v in batch.items() if k != "labels"}
            labels = batch["labels"][:take]
            for column, skip in enumerate([None, *range(model.num_layers)]):
                model.set_mode("full", forced_skip=skip)
                totals[column] += float(task_loss(model(**inputs).logits, labels, reduction="sum"))
            seen += take
            if seen >= max_examples:
                break
    finally:
        model.set_mode(previous_mode)
        model.train(was_training)
    if seen == 0:
        raise LmforgeError("layer importance needs at least one training example")
    return ((totals[1:] - totals[0]) / seen).float()


def initial_keep_probabilities(importance: torch.Tensor, mean_keep: float, rank_step: float) -> torch.Tensor:
    """q_l spaced by ε per importance rank (most important highest), centred on b_0.

    With b_0 = 1 this is q_l = 1 − ε·rank(l) (rank 1 = most important): gates start open but ordered.
    """
    num_layers = importance.numel()
    rank = torch.empty(num_layers, dtype=torch.float64)
    rank[importance.argsort(descending=True)] = torch.arange(1, num_layers + 1, dtype=torch.float64)
    centre = (num_layers + 1) / 2
    top = min(mean_keep, 1.0 - rank_step * centre)
    return (top + rank_step * (centre - rank)).clamp(rank_step, 1.0 - rank_step).float()


def initialise_gates(model: HadSkipModel, keep_probs: torch.Tensor) -> None:
    """β_l = logit(q_l), W1 ~ N(0, 0.02), w2 = 0: every gate starts at its importance-ordered bias."""
    for layer, q in zip(model.gated_layers, keep_probs.tolist(), strict=True):
        layer.gate.reset_parameters(keep_prob=q)
