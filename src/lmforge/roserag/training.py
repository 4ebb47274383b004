"""Stage C end to end: load the starting model, train on selected pairs, save a model ``eval`` can load.

Full fine-tuning by default; ``lora=True`` trains a PEFT LoRA adapter (the default to choose for
large-vocabulary models such as Gemma), saves it under ``adapter/`` and merges it, so the output
directory is always a plain safetensors model that ``load_causal_lm`` reads. An interrupted run
resumes from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from transformers.trainer_utils import get_last_checkpoint

from lmforge.core.data import Field, read_records, write_json
from lmforge.core.models import load_causal_lm, load_tokenizer
from lmforge.roserag.preference_config import PreferenceConfig
from lmforge.roserag.preference_trainer import PreferenceTrainer

PAIR_SCHEMA = (
    Field("id", (str, int), help="the question id"),
    Field("prompt", list, help="the system and first user message"),
    Field("chosen", list, help="the preferred assistant turns (with the user turns between them)"),
    Field("rejected", list, help="the dispreferred assistant turns"),
)
TRAIN_INFO = "roserag_train.json"


def train_preferences(
    model: str,
    pairs: str | Path,
    output: str | Path,
    config: PreferenceConfig | None = None,
    *,
    lora: bool = False,
    lora_rank: int = 16,
    lora_alpha: int = 32,
) -> dict:
    """Train ``model`` on the pairs file written by ``select``; return the training metrics."""
    output = Path(output)
    config = config or PreferenceConfig(output_dir=str(output / "checkpoints"))
    rows = read_records(pairs, PAIR_SCHEMA)
    tokenizer = load_tokenizer(model)
    lm = load_causal_lm(model)
    if lora:
        from peft import LoraConfig, get_peft_model

        lm = get_peft_model(
            lm, LoraConfig(r=lora_rank, lora_alpha=lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM")
        )
    trainer = PreferenceTrainer(lm, config, rows, tokenizer)
    last = get_last_checkpoint(config.output_dir) if Path(config.output_dir).is_dir() else None
    result = trainer.train(resume_from_checkpoint=last)
    trained = trainer.model
    if lora:
        trained.save_pretrained(output / "adapter")
        trained = trained.merge_and_unload()
    trained.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    info = {
        "model": model,
        "pairs": str(pairs),
        "num_pairs": len(rows),
        "lora": lora,
        "loss": config.loss,
        "beta": config.beta,
        "metrics": result.metrics,
        "args": {k: v for k, v in dataclasses.asdict(config).items() if isinstance(v, str | int | float | bool)},
    }
    write_json(output / TRAIN_INFO, info)
    return result.metrics
