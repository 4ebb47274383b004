"""Run by test_distributed.py under torchrun: a short HadSkip run, then ``rank<N>.json`` per rank."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from lmforge.hadskip import HadSkipConfig, HadSkipModel, HadSkipTrainer, HadSkipTrainingArguments

from ._tiny import KeywordTask, tiny_classifier


def main(arch: str, output_dir: str) -> None:
    model = HadSkipModel(tiny_classifier(arch), HadSkipConfig(budget=0.5, gate_hidden=16, init_examples=64))
    args = HadSkipTrainingArguments(
        output_dir,
        max_steps=6,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        learning_rate=1e-3,
        gate_learning_rate=1e-2,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        ddp_backend="gloo",
    )
    trainer = HadSkipTrainer(model, args, train_dataset=KeywordTask(192, 1), eval_dataset=KeywordTask(64, 2))
    trainer.train()
    metrics = trainer.evaluate()
    trained = trainer.accelerator.unwrap_model(trainer.model)
    report = {
        "rank": trainer.args.process_index,
        "world": trainer.args.world_size,
        "wrapped": type(trainer.model_wrapped).__name__,
        "gates": [float(p.double().sum()) for p in trained.gate_parameters()],
        "backbone": float(sum(p.double().sum() for p in trained.model.parameters())),
        "lambda": trainer.controller.lagrange_multiplier,
        "usage": metrics["eval_usage"],
        "examples": trained.usage.examples,
    }
    Path(output_dir, f"rank{report['rank']}.json").write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1], sys.argv[2])
