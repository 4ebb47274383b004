"""Assistant-token log-probabilities against a direct full-logits computation."""

from __future__ import annotations

import pytest
import torch

from lmforge.core.errors import LmforgeError
from lmforge.core.scoring import completion_logprobs, tokenize_with_assistant_mask

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hello world"},
        {"role": "user", "content": "Name three colors"},
        {"role": "assistant", "content": "red, green and blue"},
    ],
]


def direct_score(model, ids, mask):
    with torch.no_grad():
        logprobs = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    picked = [logprobs[t - 1, ids[t]].item() for t in range(1, len(ids)) if mask[t]]
    return sum(picked), len(picked)


def test_mask_covers_exactly_the_assistant_turns(tiny_tokenizer):
    ids, mask = tokenize_with_assistant_mask(tiny_tokenizer, CONVERSATIONS[1])
    scored = tiny_tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert scored == "Hello world<|im_end|>red, green and blue<|im_end|>"


def test_plain_text_model_scores_the_continuation(tiny_tokenizer):
    tokenizer = tiny_tokenizer.__class__(tokenizer_object=tiny_tokenizer.backend_tokenizer, pad_token="<pad>")
    tokenizer.chat_template = None
    ids, mask = tokenize_with_assistant_mask(tokenizer, CONVERSATIONS[0])
    assert tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m]) == "Paris."


@pytest.mark.parametrize("batch_size", [1, 2])
def test_scores_match_direct_computation(tiny_llama, tiny_tokenizer, batch_size):
    scores = completion_logprobs(tiny_llama, tiny_tokenizer, CONVERSATIONS, batch_size=batch_size)
    for conversation, score in zip(CONVERSATIONS, scores, strict=True):
        ids, mask = tokenize_with_assistant_mask(tiny_tokenizer, conversation)
        total, count = direct_score(tiny_llama, ids, mask)
        assert score.num_tokens == count
        assert score.sum_logprob == pytest.approx(total, abs=1e-4)
        assert score.mean_logprob == pytest.approx(total / count, abs=1e-5)


def test_a_conversation_without_assistant_turn_is_refused(tiny_llama, tiny_tokenizer):
    with pytest.raises(LmforgeError, match="assistant"):
        completion_logprobs(tiny_llama, tiny_tokenizer, [[{"role": "user", "content": "hi"}]])
