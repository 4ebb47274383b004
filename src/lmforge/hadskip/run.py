"""End-to-end HadSkip runs (what ``lmforge skip train/eval/bench`` call): stage 0 teacher, stages 1–3, metrics.

A run folder holds the HadSkip model (backbone + gates + config), its tokenizer, ``teacher/`` (the
Stage-0 full fine-tune, reused when present so a rerun only redoes what is missing) and JSON results.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from lmforge.core.data import write_json
from lmforge.core.errors import LmforgeError
from lmforge.core.models import default_device
from lmforge.hadskip.config import DEFAULT_GATE_LR, HadSkipConfig
from lmforge.hadskip.data import Split, TaskData
from lmforge.hadskip.model import HadSkipModel
from lmforge.hadskip.trainer import HadSkipTrainer
from lmforge.hadskip.training_args import HadSkipTrainingArguments

TEACHER_DIR = "teacher"
RESULTS_NAME = "results.json"


@dataclass
class RunSettings:
    """Optimisation settings shared by the teacher and the HadSkip stages (the note's defaults)."""

    epochs: float = 3.0
    teacher_epochs: float = 3.0
    batch_size: int = 32
    max_length: int = 128
    learning_rate: float = 2e-5
    gate_learning_rate: float = DEFAULT_GATE_LR
    teacher_learning_rate: float | None = None
    """Stage 0's learning rate (None: ``learning_rate``), so the distillation stages can use a larger one."""
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    seed: int = 42
    max_train_examples: int | None = None
    extra_args: dict[str, Any] = field(default_factory=dict)

    def training_arguments(
        self, output_dir: Path, epochs: float, cls: type = TrainingArguments, learning_rate: float | None = None
    ) -> Any:
        """CPU-safe HF arguments: no checkpoints (the run folder is the artefact), epoch-level eval off."""
        return cls(
            output_dir=str(output_dir),
            num_train_epochs=epochs,
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=self.batch_size,
            learning_rate=learning_rate or self.learning_rate,
            warmup_steps=self.warmup_ratio,
            weight_decay=self.weight_decay,
            seed=self.seed,
            save_strategy="no",
            report_to=[],
            logging_steps=50,
            disable_tqdm=True,
            dataloader_pin_memory=torch.cuda.is_available(),
            **self.extra_args,
        )


def encode(tokenizer: PreTrainedTokenizerBase, split: Split, max_length: int) -> Dataset:
    """Tokenised examples (unpadded; the collator pads each batch) with their labels."""
    columns = list(zip(*split.texts, strict=True))
    encoded = tokenizer(*[list(c) for c in columns], truncation=True, max_length=max_length)
    return Dataset.from_dict({**encoded, "labels": split.labels})


def train_teacher(model: str, task: TaskData, output: Path, settings: RunSettings) -> Path:
    """Stage 0: full fine-tune of ``model`` on the task, saved in ``output/teacher`` (reused if present)."""
    from lmforge.core.models import load_encoder, load_tokenizer

    folder = output / TEACHER_DIR
    if (folder / "config.json").is_file():
        return folder
    args = settings.training_arguments(
        output / "stage0", settings.teacher_epochs, learning_rate=settings.teacher_learning_rate
    )
    tokenizer = load_tokenizer(model)
    classifier = load_encoder(model, num_labels=task.num_labels)
    train = encode(tokenizer, task.train.head(settings.max_train_examples), settings.max_length)
    collator = DataCollatorWithPadding(tokenizer)
    Trainer(model=classifier, args=args, train_dataset=train, data_collator=collator).train()
    classifier.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def train_hadskip(
    model: str,
    task: TaskData,
    output: Path,
    config: HadSkipConfig,
    settings: RunSettings,
    teacher_dir: Path | None = None,
) -> dict[str, Any]:
    """Stages 0–3; saves the gated model in ``output`` and returns (and writes) the dev results.

    ``teacher_dir`` is a Stage-0 model to start from; by default it is trained (or reused) in ``output/teacher``.
    """
    teacher_dir = teacher_dir or train_teacher(model, task, output, settings)
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir, use_safetensors=True)
    student = HadSkipModel(
        AutoModelForSequenceClassification.from_pretrained(teacher_dir, use_safetensors=True), config
    )
    args = settings.training_arguments(output / "stages", settings.epochs, HadSkipTrainingArguments)
    args.gate_learning_rate = settings.gate_learning_rate
    trainer = HadSkipTrainer(
        student,
        args,
        teacher_model=teacher,
        train_dataset=encode(tokenizer, task.train.head(settings.max_train_examples), settings.max_length),
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    trainer.train()
    student.save_pretrained(output)
    tokenizer.save_pretrained(output)
    results = {
        "task": task.name,
        "model": model,
        "train_examples": len(task.train.head(settings.max_train_examples)),
        "teacher": evaluate_model(HadSkipModel(teacher, config), tokenizer, task.dev, settings, mode="full"),
        "hadskip": evaluate_model(student, tokenizer, task.dev, settings),
        "layer_importance": None if trainer.layer_importance is None else trainer.layer_importance.tolist(),
        "budget_shift": trainer.budget_shift,
        "settings": asdict(settings),
        "hadskip_config": config.to_dict(),
    }
    write_json(output / RESULTS_NAME, results)
    return results


def load_run(folder: str | Path, strict_budget: bool | None = None) -> tuple[HadSkipModel, PreTrainedTokenizerBase]:
    """The gated model and tokenizer of a run folder; ``strict_budget`` overrides the saved cap setting."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise LmforgeError(f"{folder}: not a HadSkip run folder (no config.json); train one with `lmforge skip train`")
    model = HadSkipModel.from_pretrained(folder).eval()
    if strict_budget is not None:
        model.set_strict_budget(strict_budget)
    return model, AutoTokenizer.from_pretrained(folder)


def batches_of(
    tokenizer: PreTrainedTokenizerBase, split: Split, max_length: int, batch_size: int
) -> list[dict[str, torch.Tensor]]:
    """Padded batches, tokenised up front so timings exclude tokenisation."""
    dataset = encode(tokenizer, split, max_length)
    collator = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    rows = [dataset[i] for i in range(len(dataset))]
    return [collator(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]


@torch.no_grad()
def predict(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> list[int]:
    """Predicted class ids of every example, in order (the model's current mode)."""
    model.eval()
    out: list[int] = []
    for batch in batches:
        out.extend(model(**{k: v for k, v in batch.items() if k != "labels"})["logits"].argmax(-1).tolist())
    return out


def scored(predictions: list[int], split: Split) -> dict[str, Any]:
    """Accuracy plus the predictions themselves (kept for paired bootstrap comparisons)."""
    correct = sum(int(p == y) for p, y in zip(predictions, split.labels, strict=True))
    return {"accuracy": correct / len(split), "examples": len(split), "predictions": predictions}


def evaluate_model(
    model: HadSkipModel, tokenizer: PreTrainedTokenizerBase, split: Split, settings: RunSettings, mode: str = "fast"
) -> dict[str, Any]:
    """Dev accuracy with the given gate mode, measured layer usage and per-layer keep rates."""
    previous = model.gate_mode
    model.set_mode(mode)  # type: ignore[arg-type]
    model.usage.reset()
    try:
        predictions = predict(model, batches_of(tokenizer, split, settings.max_length, settings.batch_size))
    finally:
        model.set_mode(previous)
    stats = model.usage.to_dict() if mode != "full" else {"usage": 1.0, "speedup": 1.0}
    return {**scored(predictions, split), **stats}


@torch.no_grad()
def throughputs(models: list[torch.nn.Module], batches: list[dict[str, torch.Tensor]], repeats: int = 5) -> list[float]:
    """Examples per second of each model over ``batches``: one warm-up pass each, then the median of
    ``repeats`` passes. Passes of the models alternate, so a load change on a shared machine hits all alike.
    Batches must sit on the models' device; GPU work is waited for before a pass's clock stops."""
    inputs = [{k: v for k, v in batch.items() if k != "labels"} for batch in batches]
    examples = sum(len(batch["input_ids"]) for batch in inputs)
    on_gpu = any(t.is_cuda for batch in inputs for t in batch.values())
    times: list[list[float]] = [[] for _ in models]
    for index in range(repeats + 1):
        for model, spent in zip(models, times, strict=True):
            model.eval()
            start = time.perf_counter()
            for batch in inputs:
                model(**batch)
            if on_gpu:
                torch.cuda.synchronize()
            if index:
                spent.append(time.perf_counter() - start)
    return [examples / statistics.median(spent) for spent in times]


def benchmark(
    folder: str | Path, split: Split, batch_size: int, max_length: int = 128, strict_budget: bool | None = None
) -> dict[str, Any]:
    """Throughput of the full model and of HadSkip inference on the same batches, in the same process,
    on :func:`~lmforge.core.models.default_device` (the GPU when there is one; ``LMFORGE_DEVICE`` overrides)."""
    device = default_device()
    model, tokenizer = load_run(folder, strict_budget)
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches_of(tokenizer, split, max_length, batch_size)]
    # The saved backbone alone is the ungated full model (same weights, every layer, no gates).
    full_model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True).to(device)
    model.to(device)
    model.set_mode("fast")
    fast, full = throughputs([model, full_model], batches)
    model.usage.reset()
    predict(model, batches)
    result = {
        "batch_size": batch_size,
        "examples": len(split),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "full_examples_per_s": full,
        "hadskip_examples_per_s": fast,
        "speedup": fast / full,
        "usage": model.usage.usage,
    }
    write_json(Path(folder) / "bench.json", result)
    return result
