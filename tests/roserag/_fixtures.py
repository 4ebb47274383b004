"""Tiny passages and file helpers shared by the RoseRAG tests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from lmforge.core.generation.base import Generator
from lmforge.roserag.data import make_passage

PARIS = make_passage("Paris", "Paris is the capital and largest city of France.")
BERLIN = make_passage("Berlin", "Berlin is the capital of Germany.")
TOKYO = make_passage("Tokyo", "Tokyo is the capital of Japan and its most populous city.")
NILE = make_passage("Nile", "The Nile is a major river in northeastern Africa.")
LOUVRE = make_passage("Louvre", "The Louvre is an art museum in Paris, France.")


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def save_tiny_encoder(directory: Path) -> Path:
    """A random 2-layer BERT with a word-level vocabulary, saved as a plain HF model directory.

    sentence-transformers loads such a directory with mean pooling, like any HF encoder.
    """
    import re

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted(
        {
            w
            for p in (PARIS, BERLIN, TOKYO, NILE, LOUVRE)
            for w in re.findall(r"\w+", p.title + " " + p.contents.lower())
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2
    )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


HINT = re.compile(r"The correct answer is: (.+?)\. ")
FIRST_TITLE = re.compile(r"^\[1\] (.+?):", re.MULTILINE)


@dataclass
class ScriptedGenerator(Generator):
    """A fake model: its rationale names the shown answer, else ``unhinted`` (or passage [1]'s title);
    its answer turn repeats what its rationale named. Counts ``generate`` calls."""

    unhinted: str | None = None
    calls: int = 0

    @property
    def model_id(self) -> str:
        return "scripted"

    def generate(self, prompts, config, *, ids=None):
        self.calls += 1
        return super().generate(prompts, config, ids=ids)

    def _run(self, jobs, config, done):
        for i, job in enumerate(jobs):
            messages = job.prompt.messages
            if "final answer" not in messages[-1]["content"]:
                hint = HINT.search(messages[-1]["content"])
                named = hint.group(1) if hint else self.unhinted or FIRST_TITLE.search(messages[-1]["content"]).group(1)
                done(i, f"It is {named}. ")
            else:
                assert "The correct answer" not in messages[-3]["content"]  # the answer turn never sees the hint
                done(i, "The answer is " + messages[-2]["content"].removeprefix("It is "))
