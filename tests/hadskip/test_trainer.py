"""HadSkipTrainer: the homotopic recipe on a tiny model ends within budget; saving and resuming work."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import (
    BertForSequenceClassification,
    EvalPrediction,
    Trainer,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from lmforge.core.errors import LmforgeError
from lmforge.hadskip import HadSkipConfig, HadSkipController, HadSkipModel, HadSkipTrainer, HadSkipTrainingArguments

from ._tiny import KeywordTask, tiny_classifier

COMMON: dict[str, Any] = {
    "report_to": [],
    "use_cpu": True,
    "bf16": False,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "logging_steps": 8,
    "save_strategy": "no",
    "disable_tqdm": True,
    "seed": 0,
}


def accuracy(prediction: EvalPrediction) -> dict[str, float]:
    return {"accuracy": float(np.mean(prediction.predictions.argmax(-1) == prediction.label_ids))}


@pytest.fixture(scope="module")
def task() -> tuple[KeywordTask, KeywordTask]:
    return KeywordTask(512, seed=1), KeywordTask(128, seed=2)


@pytest.fixture(scope="module")
def teacher(task: tuple[KeywordTask, KeywordTask], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stage 0: a plain full fine-tune of the tiny BERT, saved as the starting point."""
    model = tiny_classifier("bert")
    args = TrainingArguments(str(tmp_path_factory.mktemp("stage0")), num_train_epochs=4, learning_rate=3e-3, **COMMON)
    Trainer(model=model, args=args, train_dataset=task[0]).train()
    path = tmp_path_factory.mktemp("teacher")
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def trained(
    task: tuple[KeywordTask, KeywordTask], teacher: Path, tmp_path_factory: pytest.TempPathFactory
) -> HadSkipTrainer:
    """Stages 1–3 at budget 0.5 (gate LR raised for the very short run)."""
    backbone = BertForSequenceClassification.from_pretrained(teacher, attn_implementation="eager")
    model = HadSkipModel(backbone, HadSkipConfig(budget=0.5, gate_hidden=16, init_examples=256))
    args = HadSkipTrainingArguments(
        str(tmp_path_factory.mktemp("hadskip")),
        num_train_epochs=4,
        learning_rate=1e-3,
        gate_learning_rate=1e-2,
        eval_strategy="epoch",
        metric_for_best_model="budgeted_accuracy",
        **COMMON,
    )
    trainer = HadSkipTrainer(model, args, train_dataset=task[0], eval_dataset=task[1], compute_metrics=accuracy)
    trainer.train()
    return trainer


def test_budget_half_run_ends_within_budget(trained: HadSkipTrainer) -> None:
    metrics = trained.evaluate()
    assert metrics["eval_usage"] <= 0.52
    assert metrics["eval_within_budget"] == 1.0
    assert metrics["eval_accuracy"] >= 0.9
    assert metrics["eval_speedup"] == pytest.approx(1.0 / metrics["eval_usage"])
    assert len([key for key in metrics if key.startswith("eval_keep_rate_layer_")]) == 4
    assert trained.accelerator.unwrap_model(trained.model).gate_mode == "fast"


def test_calibration_after_training_meets_the_budget_on_training_rows(trained: HadSkipTrainer) -> None:
    model = trained.accelerator.unwrap_model(trained.model)
    with torch.no_grad():
        for layer in model.gated_layers:
            layer.gate.fc2.bias.add_(10.0)  # every gate open: usage 1.0
    shift = 0.0
    try:
        shift = trained.calibrate_budget()
        assert shift > 0 and trained.budget_shift == shift
        metrics = trained.evaluate(trained.train_dataset, metric_key_prefix="train")
        assert metrics["train_usage"] <= 0.5 + model.hadskip_config.budget_tolerance
    finally:
        with torch.no_grad():
            for layer in model.gated_layers:
                layer.gate.fc2.bias.add_(shift - 10.0)  # back to the trained gates for the other tests


def test_best_checkpoint_metric_ranks_only_within_budget_evaluations(trained: HadSkipTrainer) -> None:
    evaluations = [entry for entry in trained.state.log_history if "eval_budgeted_accuracy" in entry][:4]
    assert len(evaluations) == 4  # one per epoch during training (other tests may evaluate again)
    for entry in evaluations:
        expected = entry["eval_accuracy"] if entry["eval_within_budget"] else -math.inf
        assert entry["eval_budgeted_accuracy"] == expected
    assert trained.state.best_metric == max(entry["eval_budgeted_accuracy"] for entry in evaluations)


def test_controller_restores_the_multiplier_on_resume() -> None:
    controller = HadSkipController(lagrange_multiplier=0.0)
    state = TrainerState(global_step=2, max_steps=10)
    state.stateful_callbacks = {"HadSkipController": {"args": {"lagrange_multiplier": 0.37}, "attributes": {}}}
    model = HadSkipModel(tiny_classifier("bert"), HadSkipConfig(budget=0.5))
    controller.on_train_begin(TrainingArguments("unused", **COMMON), state, TrainerControl(), model=model)
    assert controller.lagrange_multiplier == 0.37
    assert model.gate_mode == "soft" and controller.budget_target < 1.0
    controller.record_usage(torch.tensor(0.9))
    controller.record_usage(torch.tensor(0.7))
    controller.on_step_end(TrainingArguments("unused", **COMMON), state, TrainerControl(), model=model)
    assert controller.usage_estimate == pytest.approx(0.8)
    assert controller.lagrange_multiplier == pytest.approx(0.37 + 0.02 * (0.8 - controller.budget_target))


def test_recipe_ran_every_stage(trained: HadSkipTrainer) -> None:
    assert trained.layer_importance is not None and trained.layer_importance.shape == (4,)
    logs = [entry for entry in trained.state.log_history if "hadskip_lambda" in entry]
    targets = [entry["hadskip_budget_target"] for entry in logs]
    temperatures = [entry["hadskip_temperature"] for entry in logs]
    assert targets == sorted(targets, reverse=True) and targets[-1] == pytest.approx(0.5)
    assert temperatures[0] < 1.0 and temperatures[-1] == pytest.approx(0.05)
    assert max(entry["hadskip_lambda"] for entry in logs) > 0.0
    gate_groups = [group for group in trained.optimizer.param_groups if group.get("hadskip_gates")]
    assert len(gate_groups) == 1 and gate_groups[0]["weight_decay"] == 0.0
    assert trained.teacher is not None and not any(p.requires_grad for p in trained.teacher.parameters())


def test_saved_model_reloads_with_the_same_predictions(trained: HadSkipTrainer, tmp_path: Path) -> None:
    trained.save_model(str(tmp_path))
    loaded = HadSkipModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    model = trained.accelerator.unwrap_model(trained.model).eval()
    batch = {key: value[:16] for key, value in trained.eval_dataset[:16].items() if key != "labels"}
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)


def test_decoder_classifier_trains_and_resumes(task: tuple[KeywordTask, KeywordTask], tmp_path: Path) -> None:
    """The decoder path end to end: penalty mode, strict cap, a checkpoint and a resume from it."""
    config = HadSkipConfig(budget=0.5, gate_hidden=16, budget_mode="two_sided", strict_budget=True, init_examples=64)
    settings = {**COMMON, "max_steps": 4, "learning_rate": 1e-3, "save_strategy": "steps", "save_steps": 2}
    args = HadSkipTrainingArguments(str(tmp_path), **settings)
    rows = [task[0][i] for i in range(128)]
    columns = {key: torch.stack([row[key] for row in rows]).tolist() for key in rows[0]}
    # An extra text column: the trainer must keep only what the backbone's forward accepts.
    train = Dataset.from_dict({**columns, "text": ["unused"] * len(rows)})
    HadSkipTrainer(HadSkipModel(tiny_classifier("llama"), config), args, train_dataset=train).train()
    resumed_args = HadSkipTrainingArguments(str(tmp_path / "resumed"), **settings)
    # Resuming starts from the same Stage-0 model (it is also the teacher); the checkpoint replaces its weights.
    resumed = HadSkipTrainer(HadSkipModel(tiny_classifier("llama"), config), resumed_args, train_dataset=train)
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert not (tmp_path / "resumed" / "checkpoint-2").exists() and (tmp_path / "resumed" / "checkpoint-4").is_dir()
    assert resumed.state.global_step == 4
    uninterrupted = HadSkipModel.from_pretrained(tmp_path / "checkpoint-4").eval()
    model = resumed.accelerator.unwrap_model(resumed.model).eval()
    batch = {key: value[:8] for key, value in task[1][:8].items() if key != "labels"}
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, uninterrupted(**batch).logits, atol=1e-5)
    metrics = resumed.evaluate(task[1])
    assert metrics["eval_usage"] <= 0.5  # the strict cap: at most ceil(0.5·4) = 2 layers per input


def test_trainer_rejects_a_plain_model() -> None:
    with pytest.raises(LmforgeError, match="HadSkipModel"):
        HadSkipTrainer(tiny_classifier("bert"), TrainingArguments("unused", **COMMON))  # type: ignore[arg-type]


def test_augmented_multiplier_is_unclamped_and_the_lagrangian_one_is_not() -> None:
    """Undershooting the budget lowers λ below 0 in ``augmented`` mode (an equality constraint)."""
    args, state = TrainingArguments("unused", **COMMON), TrainerState(global_step=9, max_steps=10)
    for mode, expected in (("augmented", -0.02 * 0.3), ("lagrangian", 0.0)):
        model = HadSkipModel(tiny_classifier("bert"), HadSkipConfig(budget=0.5, budget_mode=mode))
        controller = HadSkipController()
        controller.on_step_begin(args, state, TrainerControl(), model=model)
        controller.record_usage(torch.tensor(0.2))
        controller.on_step_end(args, state, TrainerControl(), model=model)
        assert controller.lagrange_multiplier == pytest.approx(expected)


def test_straight_through_usage_is_hard_forward_with_a_non_vanishing_gradient() -> None:
    from lmforge.hadskip.trainer import usage_surrogate

    logits = torch.tensor([[3.0, -3.0]], requires_grad=True)
    probs = torch.sigmoid(logits / 0.05)  # saturated at low temperature: no gradient left
    usage = usage_surrogate(probs, logits, HadSkipConfig())
    assert usage.tolist() == [[1.0, 0.0]]
    usage.sum().backward()
    assert logits.grad.min() > 0.04  # σ'(±3) ≈ 0.045, whereas σ'(±60)/0.05 ≈ 0
    assert torch.equal(usage_surrogate(probs, logits, HadSkipConfig(usage_estimate="soft")), probs)


def test_depth_order_initialisation_keeps_earlier_layers_more_likely(teacher: Path, tmp_path: Path) -> None:
    backbone = BertForSequenceClassification.from_pretrained(teacher, attn_implementation="eager")
    model = HadSkipModel(backbone, HadSkipConfig(init_order="depth", init_rank_step=0.1, gate_hidden=16))
    trainer = HadSkipTrainer(model, HadSkipTrainingArguments(str(tmp_path), **COMMON), train_dataset=None)
    trainer.initialise_gates()  # no importance pass: needs no data
    biases = [float(layer.gate.fc2.bias) for layer in model.gated_layers]
    assert biases == sorted(biases, reverse=True) and biases[0] > biases[-1]
    with pytest.raises(LmforgeError, match="init_order"):
        HadSkipConfig(init_order="random")  # type: ignore[arg-type]


def test_teacher_learning_rate_applies_to_stage0_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's tuned recipe distils at 5e-5 while Stage 0 keeps 2e-5."""
    from lmforge.hadskip import run

    settings = run.RunSettings(learning_rate=5e-5, teacher_learning_rate=2e-5, extra_args={"use_cpu": True})
    assert settings.training_arguments(tmp_path, 1).learning_rate == 5e-5
    seen: list[float] = []

    class Stop(Exception):
        pass

    def stop(
        self: run.RunSettings, output_dir: Path, epochs: float, cls: type = object, learning_rate: float | None = None
    ) -> None:
        seen.append(learning_rate or self.learning_rate)
        raise Stop

    monkeypatch.setattr(run.RunSettings, "training_arguments", stop)
    with pytest.raises(Stop):
        run.train_teacher("unused", None, tmp_path, settings)  # type: ignore[arg-type]
    assert seen == [2e-5]
