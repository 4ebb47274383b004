"""Test helpers: tiny random BERT and Llama classifiers (hidden 32, 4 layers) and padded batches; no downloads."""

from __future__ import annotations

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    Gemma3TextConfig,
    Gemma3TextForSequenceClassification,
    LlamaConfig,
    LlamaForSequenceClassification,
    Qwen2Config,
    Qwen2ForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from lmforge.hadskip import HadSkipConfig, HadSkipModel

VOCAB = 40
PAD = 0


_ARCHITECTURES: dict[str, tuple[type, type, dict[str, object]]] = {
    "bert": (BertConfig, BertForSequenceClassification, {}),
    "llama": (LlamaConfig, LlamaForSequenceClassification, {"num_key_value_heads": 2}),
    "roberta": (RobertaConfig, RobertaForSequenceClassification, {}),
    "deberta-v2": (
        DebertaV2Config,
        DebertaV2ForSequenceClassification,
        {"relative_attention": True, "position_buckets": 8, "pos_att_type": ["p2c", "c2p"]},
    ),
    "qwen2": (Qwen2Config, Qwen2ForSequenceClassification, {"num_key_value_heads": 2}),
    "gemma3": (
        Gemma3TextConfig,
        Gemma3TextForSequenceClassification,
        {
            "num_key_value_heads": 2,
            "head_dim": 8,
            "sliding_window": 4,
            "layer_types": ["sliding_attention", "full_attention"] * 2,
        },
    ),
}


def tiny_classifier(
    arch: str, attn: str = "eager", seed: int = 0, vocab_size: int = VOCAB, pad_token_id: int = PAD
) -> torch.nn.Module:
    """A random 4-layer, hidden-32 ``*ForSequenceClassification`` of the given family."""
    config_class, model_class, extra = _ARCHITECTURES[arch]
    torch.manual_seed(seed)
    config = config_class(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=2,
        pad_token_id=pad_token_id,
        attn_implementation=attn,
        **extra,
    )
    return model_class(config).eval()


def padded_batch(batch: int = 6, length: int = 10, seed: int = 1, left: bool = False) -> dict[str, torch.Tensor]:
    """Random ids with varied lengths, padded right (or left), first token a BOS/CLS-like id."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, length), generator=generator)
    lengths = torch.randint(3, length + 1, (batch,), generator=generator)
    lengths[0] = length
    positions = torch.arange(length)[None]
    mask = (positions >= length - lengths[:, None]) if left else (positions < lengths[:, None])
    first = (length - lengths) if left else torch.zeros_like(lengths)
    ids[torch.arange(batch), first] = 2
    ids[~mask] = PAD
    return {"input_ids": ids, "attention_mask": mask.long()}


def check_fast_matches_hard(
    plain: torch.nn.Module, batch: dict[str, torch.Tensor], config: HadSkipConfig
) -> tuple[HadSkipModel, torch.Tensor]:
    """Wrap ``plain``; check that ``full`` mode is the plain model and gather/scatter equals hard masking.

    Returns the wrapped model (random mixed gates, ``fast`` mode) and its logits on ``batch``.
    """
    with torch.no_grad():
        expected = plain(**batch).logits
        model = HadSkipModel(plain, config).eval()
        model.set_mode("full")
        assert torch.equal(model(**batch).logits, expected)
        randomise_gates(model, seed=3, bias=0.0)
        model.set_mode("hard")
        hard = model(**batch)
        model.set_mode("fast")
        fast = model(**batch)
    assert 0 < int(fast.keep_mask.sum()) < fast.keep_mask.numel(), "gates should keep some rows and skip others"
    assert torch.equal(fast.keep_mask, hard.keep_mask)
    assert torch.allclose(fast.logits, hard.logits, atol=1e-5), (fast.logits - hard.logits).abs().max()
    return model, fast.logits


def randomise_gates(model: HadSkipModel, seed: int = 0, bias: float = 0.0) -> None:
    """Input-dependent gates with mixed decisions, so tests see rows that keep and rows that skip."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.gated_layers:
            gate = layer.gate
            gate.fc1.weight.copy_(torch.randn(gate.fc1.weight.shape, generator=generator))
            gate.fc2.weight.copy_(torch.randn(gate.fc2.weight.shape, generator=generator))
            gate.fc2.bias.fill_(bias)


def wrap(arch: str, attn: str = "eager", **config: object) -> HadSkipModel:
    config.setdefault("gate_hidden", 16)
    return HadSkipModel(tiny_classifier(arch, attn), HadSkipConfig(**config))


class KeywordTask(torch.utils.data.Dataset):
    """Synthetic classification: is one of two keyword ids in the (padded) sequence?"""

    def __init__(self, size: int, seed: int, length: int = 12) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(5, VOCAB, (size, length), generator=generator)
        lengths = torch.randint(length // 2, length + 1, (size,), generator=generator)
        self.attention_mask = (torch.arange(length)[None] < lengths[:, None]).long()
        self.input_ids[:, 0] = 2
        self.input_ids[self.attention_mask == 0] = PAD
        self.labels = ((self.input_ids == 7) | (self.input_ids == 8)).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids[index],
            "attention_mask": self.attention_mask[index],
            "labels": self.labels[index],
        }
