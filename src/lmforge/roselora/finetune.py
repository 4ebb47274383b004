"""`lmforge lora finetune`: RoseLoRA, LoRA or full fine-tuning through the HF `Trainer` / TRL `SFTTrainer`.

Sequence classification (`load_encoder(spec, num_labels)`, PEFT task `SEQ_CLS`: the new
classifier head trains densely beside the adapter) or chat SFT (TRL's `SFTTrainer`, which
applies the tokenizer's chat template). RoseLoRA's schedule is planned from the run's
optimizer steps T: dense until t_i = 0.1·T, τ reached at t_f = 0.8·T [design]. The output
folder gets the adapter (`save_pretrained`; RoseLoRA's sidecar `roselora_config.json` beside
it) or the full model, `metrics.json` and, for adapters, `sparsity.json` (per-layer density of
ΔW = BA next to the Σρ_A·ρ_B bound). Checkpoints go to `checkpoints/` each epoch and a rerun
with the same settings resumes from the last one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from torch import nn

from lmforge.core.data import write_json
from lmforge.core.errors import LmforgeError
from lmforge.roselora.callback import RoseLoraCallback
from lmforge.roselora.config import RoseLoraConfig
from lmforge.roselora.edit_run import check_settings
from lmforge.roselora.finetune_data import ChatData, ClassificationData
from lmforge.roselora.report import overall_density, sparsity_report

FINETUNE_METHODS = ("roselora", "lora", "full")
METRICS_NAME = "metrics.json"
SPARSITY_NAME = "sparsity.json"
CHECKPOINTS = "checkpoints"
# Learning rates by (method is an adapter, task): common LoRA / full fine-tuning choices [design].
DEFAULT_LR = {
    (True, "classification"): 5e-4,
    (False, "classification"): 5e-5,
    (True, "sft"): 2e-4,
    (False, "sft"): 2e-5,
}


@dataclass(frozen=True)
class FinetuneConfig:
    """Method and training hyperparameters; `targets=None` lets PEFT pick the architecture's attention q/v."""

    method: str = "roselora"
    keep: float = 0.1
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.1
    targets: tuple[str, ...] | None = None
    clamp: float | None = None
    epochs: float = 2.0
    max_steps: int | None = None
    batch_size: int = 32
    lr: float | None = None
    max_length: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in FINETUNE_METHODS:
            raise LmforgeError(f"unknown fine-tuning method {self.method!r}; choose from {', '.join(FINETUNE_METHODS)}")
        if self.epochs <= 0 or self.batch_size < 1 or self.max_length < 8 or self.rank < 1:
            raise LmforgeError("need epochs > 0, batch_size ≥ 1, max_length ≥ 8 and rank ≥ 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise LmforgeError(f"max_steps must be ≥ 1, got {self.max_steps}")
        if self.lr is not None and self.lr <= 0:
            raise LmforgeError(f"lr must be > 0, got {self.lr}")
        if self.targets is not None:
            object.__setattr__(self, "targets", tuple(self.targets))
        self.adapter_config("SEQ_CLS", total_steps=10)  # validates the RoseLoRA fields now

    @property
    def is_adapter(self) -> bool:
        return self.method != "full"

    def learning_rate(self, kind: str) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[(self.is_adapter, kind)]

    def adapter_config(self, task_type: str, total_steps: int) -> LoraConfig | None:
        """The PEFT config (None for full fine-tuning); RoseLoRA's schedule spans 0.1·T to 0.8·T."""
        if not self.is_adapter:
            return None
        lora = {
            "r": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": self.dropout,
            "target_modules": list(self.targets) if self.targets else None,
            "task_type": task_type,
        }
        if self.method == "lora":
            return LoraConfig(**lora)
        warmup = total_steps // 10
        return RoseLoraConfig(
            **lora,
            target_density=self.keep,
            value_clamp=self.clamp,
            warmup_steps=warmup,
            prune_end_step=max(warmup + 1, (8 * total_steps) // 10),
            total_step=max(total_steps, warmup + 1),
        )


def planned_steps(config: FinetuneConfig, rows: int) -> int:
    """Optimizer steps T of the run (`max_steps`, else epochs × batches per epoch)."""
    return config.max_steps or max(1, math.ceil(config.epochs * math.ceil(rows / config.batch_size)))


def run_finetune(
    model_spec: str,
    data: ClassificationData | ChatData,
    config: FinetuneConfig,
    output_dir: str | Path,
    *,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Train, evaluate and save into `output_dir`; returns (and writes) the metrics."""
    output_dir = Path(output_dir)
    if not data.train:
        raise LmforgeError(f"{data.name}: no training rows")
    kind = "sft" if isinstance(data, ChatData) else "classification"
    settings = {
        "model": model_spec,
        "data": data.name,
        "rows": [len(data.train), len(data.eval)],
        "config": dataclasses.asdict(config),
    }
    check_settings(output_dir, settings)
    if (output_dir / METRICS_NAME).is_file():  # finished before with these settings
        return json.loads((output_dir / METRICS_NAME).read_text(encoding="utf-8"))
    total = planned_steps(config, len(data.train))
    args = _training_args(config, output_dir, total, kind, show_progress)
    if kind == "sft":
        trainer = _sft_trainer(model_spec, data, config, args, total)
    else:
        trainer = _classification_trainer(model_spec, data, config, args, total)
    checkpoints = sorted((output_dir / CHECKPOINTS).glob("checkpoint-*"))
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=bool(checkpoints))
    seconds = time.perf_counter() - started
    model = trainer.model
    metrics: dict[str, Any] = {
        "model": model_spec,
        "data": data.name,
        "kind": kind,
        "method": config.method,
        "keep": config.keep if config.method == "roselora" else None,
        "train_rows": len(data.train),
        "eval_rows": len(data.eval),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "train_seconds": seconds,
        "seconds_per_step": seconds / max(1, result.global_step),
    }
    metrics |= _evaluate(trainer, data, kind)
    metrics |= _parameter_counts(model, config)
    if config.is_adapter:
        report = sparsity_report(model)  # raises if ΔW ever exceeds the Σρρ bound
        write_json(output_dir / SPARSITY_NAME, [m.as_dict() for m in report])
        metrics["delta_w_density"], metrics["delta_w_bound"] = overall_density(report)
        model.save_pretrained(output_dir / "adapter")
    else:
        model.save_pretrained(output_dir / "model")
        trainer.processing_class.save_pretrained(output_dir / "model")
    write_json(output_dir / METRICS_NAME, metrics)
    return metrics


def _training_args(config: FinetuneConfig, output_dir: Path, total: int, kind: str, show_progress: bool) -> Any:
    from transformers import TrainingArguments
    from trl import SFTConfig

    common: dict[str, Any] = {
        "output_dir": str(output_dir / CHECKPOINTS),
        "max_steps": total,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": max(config.batch_size, 64),
        "learning_rate": config.learning_rate(kind),
        "lr_scheduler_type": "linear",
        "warmup_steps": total // 20,
        "save_strategy": "steps",
        "save_steps": max(1, total // max(1, math.ceil(config.epochs))),  # about once per epoch
        "save_total_limit": 1,
        "logging_steps": max(1, total // 20),
        "logging_strategy": "steps" if show_progress else "no",
        "eval_strategy": "no",
        "report_to": [],
        "use_cpu": not torch.cuda.is_available(),
        "bf16": False,
        "seed": config.seed,
        "disable_tqdm": not show_progress,
    }
    if kind == "sft":
        return SFTConfig(**common, max_length=config.max_length, packing=False)
    return TrainingArguments(**common)


def _callbacks(config: FinetuneConfig) -> list:
    return [RoseLoraCallback()] if config.method == "roselora" else []


def _classification_trainer(
    model_spec: str, data: ClassificationData, config: FinetuneConfig, args: Any, total: int
) -> Any:
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import DataCollatorWithPadding, Trainer

    from lmforge.core.models import load_encoder, load_tokenizer

    tokenizer = load_tokenizer(model_spec)
    model = load_encoder(model_spec, num_labels=len(data.labels))
    model.config.id2label = dict(enumerate(data.labels))
    model.config.label2id = {label: i for i, label in enumerate(data.labels)}
    adapter = config.adapter_config("SEQ_CLS", total)
    if adapter is not None:
        model = get_peft_model(model, adapter)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        pairs = batch["text_pair"] if any(p is not None for p in batch["text_pair"]) else None
        return tokenizer(batch["text"], pairs, truncation=True, max_length=config.max_length)

    def dataset(rows: list[dict[str, Any]]) -> Any:
        return Dataset.from_list(rows).map(encode, batched=True, remove_columns=["text", "text_pair"])

    return Trainer(
        model=model,
        args=args,
        train_dataset=dataset(data.train),
        eval_dataset=dataset(data.eval) if data.eval else None,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=_callbacks(config),
    )


def _sft_trainer(model_spec: str, data: ChatData, config: FinetuneConfig, args: Any, total: int) -> Any:
    from datasets import Dataset
    from trl import SFTTrainer

    from lmforge.core.models import load_causal_lm, load_tokenizer

    return SFTTrainer(
        model=load_causal_lm(model_spec),
        args=args,
        train_dataset=Dataset.from_list(data.train),
        eval_dataset=Dataset.from_list(data.eval) if data.eval else None,
        processing_class=load_tokenizer(model_spec),
        peft_config=config.adapter_config("CAUSAL_LM", total),
        callbacks=_callbacks(config),
    )


def _evaluate(trainer: Any, data: ClassificationData | ChatData, kind: str) -> dict[str, Any]:
    """Accuracy (and F1 of class 1 for two classes) for classification; loss and perplexity for SFT."""
    if not data.eval:
        return {}
    if kind == "sft":
        loss = trainer.evaluate()["eval_loss"]
        return {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0))}
    output = trainer.predict(trainer.eval_dataset)
    predicted = torch.as_tensor(output.predictions).argmax(dim=-1)
    gold = torch.as_tensor(output.label_ids)
    metrics = {"accuracy": (predicted == gold).float().mean().item(), "eval_loss": output.metrics.get("test_loss")}
    if len(data.labels) == 2:
        tp = int(((predicted == 1) & (gold == 1)).sum())
        metrics["f1"] = 2 * tp / max(1, int((predicted == 1).sum()) + int((gold == 1).sum()))
    return metrics


def _parameter_counts(model: nn.Module, config: FinetuneConfig) -> dict[str, int]:
    """Trainable parameters, and how many update entries are non-zero (what RoseLoRA's sparsity saves)."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    counts = {
        "total_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for _, p in trainable),
    }
    if not config.is_adapter:  # every weight is updated
        return counts | {"update_nonzero_params": counts["trainable_params"]}
    counts["update_nonzero_params"] = sum(int(torch.count_nonzero(p)) for _, p in trainable)
    # the dense classifier head PEFT trains beside the adapter (modules_to_save), included above
    counts["head_params"] = sum(p.numel() for name, p in trainable if "lora_" not in name)
    return counts
