"""Knowledge-editing metrics as EasyEdit's `compute_edit_quality` defines them (fractions, not ×100).

- Edit / rephrase / portability accuracy: teacher-forced argmax accuracy on the tokens of
  `prompt + " " + target` that follow the prompt's own tokens.
- Locality: the share of those argmax tokens that are unchanged between the pre-edit and the
  post-edit model (not compared with the gold answer).
- Fluency: 2- and 3-gram entropies (log₂) of generated text weighted 2/3 and 4/3, averaged.
  The text is the raw prompt continued greedily (no chat template, as EasyEdit generates),
  scored with the prompt included, as EasyEdit's generated texts include it.

Probes are right-padded and scored by label position, so results do not depend on padding
side or batch composition (the official loop assumed left padding).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from lmforge.roselora.requests import Probe

IGNORE_INDEX = -100  # the label value transformers' losses skip

# nltk.word_tokenize (which EasyEdit uses) is not a dependency: words and single punctuation marks.
_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


@dataclass(frozen=True)
class ProbeBatch:
    """Right-padded `prompt + " " + target` sequences; `labels` is -100 except on target tokens."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str) -> ProbeBatch:
        return ProbeBatch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def encode_probes(tokenizer: PreTrainedTokenizerBase, probes: Sequence[Probe]) -> ProbeBatch:
    """Tokenize probes; the target is what follows the prompt's own tokens (EasyEdit's convention)."""
    full = [tokenizer(f"{p.prompt} {p.target}")["input_ids"] for p in probes]
    prompt_lengths = [len(tokenizer(p.prompt)["input_ids"]) for p in probes]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    width = max(map(len, full))
    input_ids = torch.full((len(probes), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    for row, (ids, n_prompt) in enumerate(zip(full, prompt_lengths, strict=True)):
        n_prompt = max(1, min(n_prompt, len(ids) - 1))  # ≥ 1 target token, even if tokenization merged
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
        labels[row, n_prompt : len(ids)] = input_ids[row, n_prompt : len(ids)]
    return ProbeBatch(input_ids, attention_mask, labels)


@torch.no_grad()
def target_predictions(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, probes: Sequence[Probe], batch_size: int = 16
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(argmax predictions, target token ids) at each probe's target positions, teacher-forced (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    results = []
    for start in range(0, len(probes), batch_size):
        batch = encode_probes(tokenizer, probes[start : start + batch_size])
        logits = model(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)).logits
        predicted, labels = logits[:, :-1].argmax(dim=-1).cpu(), batch.labels[:, 1:]
        is_target = labels != IGNORE_INDEX
        counts = is_target.sum(dim=1).tolist()
        results += zip(predicted[is_target].split(counts), labels[is_target].split(counts), strict=True)
    return results


def token_accuracy(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, probes: Sequence[Probe], batch_size: int = 16
) -> list[float]:
    """Per probe, the fraction of target tokens the model predicts (EasyEdit's rewrite/rephrase/portability acc)."""
    return [
        (predicted == target).float().mean().item()
        for predicted, target in target_predictions(model, tokenizer, probes, batch_size)
    ]


def locality(
    before: Sequence[tuple[torch.Tensor, torch.Tensor]], after: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> list[float]:
    """Per probe, the share of target-position predictions the edit left unchanged."""
    return [(b == a).float().mean().item() for (b, _), (a, _) in zip(before, after, strict=True)]


def fluency(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], max_new_tokens: int = 100
) -> list[float]:
    """Per prompt, `ngram_entropy` of the prompt plus its greedy raw-text continuation (batched, uncached)."""
    from lmforge.core.generation import GenerationConfig
    from lmforge.core.generation.local import HFGenerator

    was_training = model.training
    generator = HFGenerator(model=model, tokenizer=tokenizer, use_chat_template=False, show_progress=False)
    texts = generator.generate(list(prompts), GenerationConfig(max_new_tokens=max_new_tokens))
    model.train(was_training)
    return [ngram_entropy(f"{prompt}{text}") for prompt, (text,) in zip(prompts, texts, strict=True)]


def ngram_entropy(text: str, ns: Sequence[int] = (2, 3), weights: Sequence[float] = (2 / 3, 4 / 3)) -> float:
    """EasyEdit's fluency of one text: the mean of the weighted n-gram entropies in bits (0 for no n-grams)."""
    words = _WORD.findall(text)
    weighted = []
    for n, weight in zip(ns, weights, strict=True):
        counts = Counter(zip(*(words[i:] for i in range(n)), strict=False))
        total = sum(counts.values())
        entropy = -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0
        weighted.append(weight * entropy)
    return sum(weighted) / len(weighted)
