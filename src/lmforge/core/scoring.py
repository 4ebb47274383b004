"""Batched log-probability of what the assistant said in a conversation.

Only assistant tokens count: every system/user token (and the template's cue that opens
an assistant turn) is masked, and every assistant turn of a multi-turn conversation is
scored. The LM head is applied only at the scored positions, so a 262k-word vocabulary
(Gemma) costs memory per scored token, not per sequence position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lmforge.core.chat import assistant_spans, has_chat_template
from lmforge.core.errors import LmforgeError
from lmforge.core.progress import progress_bar

_HEAD_CHUNK = 512  # scored positions per LM-head call: bounds the fp32 logits buffer


@dataclass(frozen=True)
class CompletionScore:
    """Log-probability of a conversation's assistant tokens."""

    sum_logprob: float
    mean_logprob: float
    num_tokens: int


def tokenize_with_assistant_mask(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[Mapping[str, str]]
) -> tuple[list[int], list[bool]]:
    """Token ids of the rendered conversation and, per token, whether the assistant wrote it."""
    text, spans = assistant_spans(tokenizer, [dict(m) for m in messages])
    if not spans:
        raise LmforgeError("a conversation to score needs at least one assistant turn")
    encoded = tokenizer(text, add_special_tokens=not has_chat_template(tokenizer), return_offsets_mapping=True)
    mask = [any(start <= s < end for start, end in spans) and e > s for s, e in encoded["offset_mapping"]]
    return encoded["input_ids"], mask


@torch.inference_mode()
def completion_logprobs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    conversations: Sequence[Sequence[Mapping[str, str]]],
    *,
    batch_size: int = 8,
    show_progress: bool = False,
) -> list[CompletionScore]:
    """Sum and mean log-probability of the assistant tokens of each conversation."""
    model.eval()
    encoded = [tokenize_with_assistant_mask(tokenizer, conv) for conv in conversations]
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    results: list[CompletionScore | None] = [None] * len(encoded)
    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    softcap = getattr(model.config, "final_logit_softcapping", None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with progress_bar(len(order), "scoring", enabled=show_progress) as advance:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encoded[i][0]) for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            scored = torch.zeros((len(batch), width), dtype=torch.bool)
            for row, i in enumerate(batch):  # right padding: positions match an unpadded run
                tokens, mask = encoded[i]
                ids[row, : len(tokens)] = torch.tensor(tokens)
                attention[row, : len(tokens)] = 1
                scored[row, : len(tokens)] = torch.tensor(mask)
            scored[:, 0] = False  # the first token has no context to predict it from
            hidden = decoder(input_ids=ids.to(model.device), attention_mask=attention.to(model.device))[0]
            # the hidden state at t predicts token t+1
            rows, cols = scored.nonzero(as_tuple=True)
            states = hidden[rows, cols - 1]
            targets = ids[rows, cols].to(model.device)
            logprobs = torch.cat(
                [
                    _token_logprobs(head, states[k : k + _HEAD_CHUNK], targets[k : k + _HEAD_CHUNK], softcap)
                    for k in range(0, len(targets), _HEAD_CHUNK)
                ]
            ).cpu()
            sums = torch.zeros(len(batch), dtype=torch.float64).index_add_(0, rows, logprobs.double())
            counts = scored.sum(dim=1)
            for row, i in enumerate(batch):
                n = int(counts[row])
                total = float(sums[row])
                results[i] = CompletionScore(total, total / n if n else float("nan"), n)
            advance(len(batch))
    return results  # type: ignore[return-value]


def _token_logprobs(
    head: torch.nn.Module, states: torch.Tensor, targets: torch.Tensor, softcap: float | None
) -> torch.Tensor:
    logits = head(states).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return logits.log_softmax(dim=-1).gather(-1, targets[:, None]).squeeze(-1)
