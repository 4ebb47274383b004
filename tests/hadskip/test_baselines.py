"""Baselines at the same budget: static layer subsets and entropy early exit on tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, TrainingArguments

from lmforge.core.errors import LmforgeError
from lmforge.hadskip.baselines import (
    DistillTrainer,
    EarlyExitModel,
    keep_layers,
    prediction_entropy,
    static_budget_layers,
    static_layer_indices,
)
from lmforge.hadskip.model import find_layers

from ._tiny import KeywordTask, padded_batch, tiny_classifier


@pytest.mark.parametrize(
    "layers, budget, k, truncate, uniform",
    [
        (6, 0.5, 3, [0, 1, 2], [1, 3, 5]),
        (12, 0.75, 9, list(range(9)), None),
        (30, 0.5, 15, None, list(range(1, 30, 2))),
    ],
)
def test_static_baselines_use_the_nearest_usage_at_or_below_the_budget(
    layers: int, budget: float, k: int, truncate: list[int] | None, uniform: list[int] | None
) -> None:
    assert static_budget_layers(layers, budget) == k
    assert static_budget_layers(6, 0.1) == 1
    if truncate is not None:
        assert static_layer_indices(layers, k, "truncate") == truncate
    if uniform is not None:
        assert static_layer_indices(layers, k, "uniform") == uniform
    with pytest.raises(LmforgeError):
        static_layer_indices(layers, k, "random")


def test_kept_layers_run_save_and_reload(arch: str, tmp_path: Path) -> None:
    model = keep_layers(tiny_classifier(arch), [1, 3])
    assert len(find_layers(model)[0]) == 2 and model.config.num_hidden_layers == 2
    batch = padded_batch(left=arch == "llama")
    with torch.no_grad():
        logits = model(**batch).logits
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(**batch).logits, logits, atol=1e-5)


def test_early_exit_leaves_at_the_first_confident_layer(arch: str) -> None:
    model = EarlyExitModel(tiny_classifier(arch)).eval()
    batch = padded_batch(batch=8)
    with torch.no_grad():
        exits = model(**batch)["exit_logits"]
        assert len(exits) == 4
        threshold = model.calibrate([batch], budget=0.5)
        model.exiting = True
        model.usage.reset()
        logits = model(**batch)["logits"]
    entropy = torch.stack([prediction_entropy(e) for e in exits[:-1]], 1)
    below = entropy < threshold
    executed = torch.where(below.any(1), below.int().argmax(1) + 1, 4)
    assert model.usage.usage == pytest.approx(executed.float().mean().item() / 4) and model.usage.usage <= 0.5
    expected = torch.stack([exits[e - 1][row] for row, e in enumerate(executed.tolist())])
    assert torch.allclose(logits, expected, atol=1e-5)
    model.threshold = 0.0  # nothing exits: the full model's own logits
    with torch.no_grad():
        assert torch.allclose(model(**batch)["logits"], exits[-1], atol=1e-5)


def test_distill_trainer_trains_exits_and_static_models(tmp_path: Path) -> None:
    data = KeywordTask(64, seed=1)
    common = {
        "max_steps": 2,
        "per_device_train_batch_size": 32,
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
    }
    for name, model in (("exit", EarlyExitModel(tiny_classifier("bert"))), ("static", tiny_classifier("bert"))):
        args = TrainingArguments(str(tmp_path / name), remove_unused_columns=False, **common)
        before = [p.detach().clone() for p in model.parameters()]
        trainer = DistillTrainer(
            model=model,
            args=args,
            train_dataset=data,
            teacher=tiny_classifier("bert"),
            kd_alpha=0.5,
            kd_temperature=2.0,
        )
        trainer.train()
        assert trainer.state.global_step == 2
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
