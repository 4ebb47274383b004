"""Tiny random Llama models, LoRA wrappers and one Trainer run shared by the RoseLoRA tests (no download)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from peft import PeftModel, get_peft_model
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast, Trainer, TrainingArguments

from lmforge.roselora import RoseLoraCallback, RoseLoraConfig

VOCAB = 64  # token ids the tests use (the shared tiny Llama's vocabulary is larger)


def rose_config(**overrides: object) -> RoseLoraConfig:
    """A small schedule (dense to step 1, τ = 0.25 from step 5) on q/v with rank 4."""
    settings: dict[str, object] = {
        "r": 4,
        "lora_alpha": 8,
        "target_modules": ["q_proj", "v_proj"],
        "task_type": "CAUSAL_LM",
        "target_density": 0.25,
        "warmup_steps": 1,
        "prune_end_step": 5,
    }
    return RoseLoraConfig(**{**settings, **overrides})


@pytest.fixture(scope="session")
def make_base(tiny_llama) -> Callable[..., LlamaForCausalLM]:
    """Fresh random models with the shared tiny Llama's config (hidden 32, 2 layers): tests here train them."""

    def build(seed: int = 0) -> LlamaForCausalLM:
        torch.manual_seed(seed)
        return LlamaForCausalLM(copy.deepcopy(tiny_llama.config)).eval()  # trainers edit model.config

    return build


@pytest.fixture(scope="session")
def make_peft(make_base) -> Callable[..., PeftModel]:
    """Build `get_peft_model(make_base(seed), rose_config(**overrides))`."""

    def build(seed: int = 0, **overrides: object) -> PeftModel:
        return get_peft_model(make_base(seed), rose_config(**overrides))

    return build


@pytest.fixture(scope="session")
def make_config() -> Callable[..., RoseLoraConfig]:
    return rose_config


@pytest.fixture(scope="session")
def make_batch() -> Callable[..., torch.Tensor]:
    """Random token ids of shape (size, length)."""

    def build(size: int = 4, length: int = 12, seed: int = 0) -> torch.Tensor:
        return torch.randint(0, VOCAB, (size, length), generator=torch.Generator().manual_seed(seed))

    return build


class RecordingCallback(RoseLoraCallback):
    """Records the step index each prune sees, how often importance is read, and the EMAs at train begin."""

    def __init__(self) -> None:
        super().__init__()
        self.pruned_at: list[int] = []
        self.accumulations = 0
        self.ema_at_begin: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        super().on_train_begin(args, state, control, **kwargs)
        self.ema_at_begin = {k: v.clone() for k, v in self.sparsifier.state_dict().items()}

    def on_pre_optimizer_step(self, args, state, control, **kwargs) -> None:
        self.accumulations += 1
        super().on_pre_optimizer_step(args, state, control, **kwargs)

    def on_optimizer_step(self, args, state, control, **kwargs) -> None:
        self.pruned_at.append(state.global_step)
        super().on_optimizer_step(args, state, control, **kwargs)


@dataclass
class Trained:
    """A RoseLoRA adapter trained by `Trainer` (8 steps, τ = 0.25 from step 5, Adam moments reset)."""

    model: PeftModel
    trainer: Trainer
    callback: RecordingCallback
    output_dir: Path
    tokens: torch.Tensor  # 4 rows to compare logits on
    dataset: list[dict[str, torch.Tensor]]
    steps: int = 8
    tau: float = 0.25


def build_trainer(model: PeftModel, dataset: list, output_dir: Path, callback: RoseLoraCallback) -> Trainer:
    """8 steps of 2 micro-batches of 4, checkpoints at steps 4 and 8."""
    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=8,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        learning_rate=1e-2,
        lr_scheduler_type="constant",
        save_strategy="steps",
        save_steps=4,
        logging_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        disable_tqdm=True,
        seed=0,
    )
    return Trainer(model=model, args=args, train_dataset=dataset, callbacks=[callback])


@pytest.fixture(scope="session")
def make_trainer() -> Callable[..., Trainer]:
    return build_trainer


@pytest.fixture(scope="session")
def trained(tmp_path_factory, make_peft, make_batch) -> Trained:
    """Trained once per session; tests must not modify it."""
    model = make_peft(reset_pruned_optimizer_state=True)
    tokens = make_batch(size=16, length=10, seed=1)
    dataset = [{"input_ids": row, "labels": row} for row in tokens]
    output_dir = tmp_path_factory.mktemp("roselora-trainer")
    callback = RecordingCallback()
    trainer = build_trainer(model, dataset, output_dir, callback)
    trainer.train()
    model.eval()
    return Trained(model, trainer, callback, output_dir, tokens[:4], dataset)


@pytest.fixture(scope="session")
def logits() -> Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]:
    """Logits without gradients."""

    def run(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(input_ids=tokens).logits

    return run


@pytest.fixture(scope="session")
def make_recorder() -> type[RecordingCallback]:
    return RecordingCallback


@pytest.fixture(scope="session")
def tokenizer(tiny_llama) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over the tiny Llama's ids: 0-2 are <unk>, <eos>, <pad>; "t5 t6" is [5, 6]."""
    vocab = {"<unk>": 0, "<eos>": 1, "<pad>": 2} | {f"t{i}": i for i in range(3, tiny_llama.config.vocab_size)}
    words = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    words.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>", eos_token="<eos>", pad_token="<pad>")
