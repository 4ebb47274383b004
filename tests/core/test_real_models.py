"""Integration on the bundled SmolLM2-135M-Instruct (converted once per machine, then loaded in seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM
from typer.testing import CliRunner

from lmforge.cli import app
from lmforge.core.generation import GenerationConfig
from lmforge.core.generation.local import HFGenerator
from lmforge.core.models import BUNDLED
from lmforge.core.scoring import completion_logprobs

pytestmark = pytest.mark.real_model


def test_smollm2_knows_the_capital_of_france(smollm2):
    model, tokenizer = smollm2
    generator = HFGenerator(model=model, tokenizer=tokenizer, name="smollm2", show_progress=False)
    (answer,), (other,) = generator.generate(
        ["What is the capital of France?", "What is 2 + 2?"], GenerationConfig(max_new_tokens=24)
    )
    assert "Paris" in answer
    assert other.strip()


def test_cached_copy_gives_the_same_logits_as_the_gguf(smollm2, smollm2_dir):
    model, tokenizer = smollm2
    gguf = BUNDLED["smollm2-135m-instruct"].locate()
    from_gguf = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    ids = tokenizer("The capital of France is Paris, and the capital of Italy is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(ids).logits, from_gguf(ids).logits)
    assert (Path(smollm2_dir) / "model.safetensors").is_file()


def test_scoring_prefers_the_right_answer(smollm2):
    model, tokenizer = smollm2
    question = {"role": "user", "content": "What is the capital of France?"}
    right, wrong = completion_logprobs(
        model,
        tokenizer,
        [
            [question, {"role": "assistant", "content": "The capital of France is Paris."}],
            [question, {"role": "assistant", "content": "The capital of France is Berlin."}],
        ],
    )
    assert right.mean_logprob > wrong.mean_logprob


def test_demo_chat_stage(smollm2_dir):
    result = CliRunner().invoke(app, ["demo", "--stage", "chat"])
    assert result.exit_code == 0, result.output
    assert "Paris" in result.output and "took" in result.output
