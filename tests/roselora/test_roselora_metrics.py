"""Teacher-forced edit metrics on a tiny random Llama, and the fluency n-gram entropy."""

from __future__ import annotations

import math

import pytest
import torch

from lmforge.roselora.metrics import locality, ngram_entropy, target_predictions, token_accuracy
from lmforge.roselora.requests import Probe

PROBES = [
    Probe("t5 t6 t7", "t8 t9"),
    Probe("t10", "t11 t12 t13"),
    Probe("t20 t21 t22 t23 t24", "t25"),
    Probe("t30 t31", "t32 t33"),
]


def test_predictions_do_not_depend_on_batching(make_base, tokenizer) -> None:
    model = make_base()
    one_by_one = target_predictions(model, tokenizer, PROBES, batch_size=1)
    batched = target_predictions(model, tokenizer, PROBES, batch_size=3)
    for (p1, t1), (p2, t2), probe in zip(one_by_one, batched, PROBES, strict=True):
        assert torch.equal(p1, p2) and torch.equal(t1, t2)
        assert len(t1) == len(probe.target.split())


def test_accuracy_is_the_share_of_greedy_target_tokens(make_base, tokenizer) -> None:
    model = make_base()
    ids = tokenizer("t5 t6 t7")["input_ids"]
    with torch.no_grad():
        greedy = model(input_ids=torch.tensor([ids])).logits[0, -1].argmax().item()
    right = tokenizer.convert_ids_to_tokens(greedy)
    wrong = "t3" if greedy != 3 else "t4"
    assert token_accuracy(model, tokenizer, [Probe("t5 t6 t7", right)]) == [1.0]
    assert token_accuracy(model, tokenizer, [Probe("t5 t6 t7", wrong)]) == [0.0]
    for score, probe in zip(token_accuracy(model, tokenizer, PROBES), PROBES, strict=True):
        n = len(probe.target.split())
        assert score * n == pytest.approx(round(score * n))  # a share of the target tokens


def test_locality_compares_predictions_before_and_after(make_base, tokenizer) -> None:
    model = make_base()
    before = target_predictions(model, tokenizer, PROBES)
    assert locality(before, target_predictions(model, tokenizer, PROBES)) == [1.0] * len(PROBES)
    with torch.no_grad():
        model.lm_head.weight.mul_(-1)  # reverses every ranking
    assert all(score < 1.0 for score in locality(before, target_predictions(model, tokenizer, PROBES)))


def test_ngram_entropy_matches_the_easyedit_formula() -> None:
    # "a b a b": bigrams ab, ba, ab (p = 2/3, 1/3); trigrams aba, bab (p = 1/2 each).
    h2 = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert ngram_entropy("a b a b") == pytest.approx((2 / 3 * h2 + 4 / 3 * 1.0) / 2)
    assert ngram_entropy("a a a a a") == 0.0
    assert ngram_entropy("") == 0.0
    assert ngram_entropy("Hello, world.") == ngram_entropy("Hello , world .")  # punctuation is its own token
