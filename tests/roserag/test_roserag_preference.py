"""Stage C: ORPO on response tokens only equals a hand computation; DPO/SimPO/SFT train; no truncation."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from lmforge.core.errors import LmforgeError
from lmforge.core.scoring import completion_logprobs, tokenize_with_assistant_mask
from lmforge.roserag.losses import log1mexp, log_odds
from lmforge.roserag.preference_config import PreferenceConfig
from lmforge.roserag.preference_trainer import PairCollator, PairDataset, PreferenceTrainer, response_logprobs

PROMPT = [
    {"role": "system", "content": "You answer questions."},
    {"role": "user", "content": "What is the capital of France? The capital of France is Paris."},
]
PAIRS = [
    {
        "id": "a",
        "prompt": PROMPT,
        "chosen": [
            {"role": "assistant", "content": "The capital is Paris."},
            {"role": "user", "content": "Answer?"},
            {"role": "assistant", "content": "Paris"},
        ],
        "rejected": [
            {"role": "assistant", "content": "Hello world."},
            {"role": "user", "content": "Answer?"},
            {"role": "assistant", "content": "the sea"},
        ],
    },
    {
        "id": "b",
        "prompt": PROMPT[1:],
        "chosen": [{"role": "assistant", "content": "red, green and blue"}],
        "rejected": [{"role": "assistant", "content": "The quick brown fox jumps over the lazy dog."}],
    },
]


def args(tmp_path, **overrides):
    settings = {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 2,
        "max_steps": 2,
        "learning_rate": 1e-2,
        "use_cpu": True,
        "bf16": False,
        "logging_steps": 1,
        "save_strategy": "no",
        "seed": 0,
    }
    return PreferenceConfig(**(settings | overrides))


def test_log_odds_is_stable():
    s = torch.tensor([-1e-9, -1e-4, -0.3, -0.7, -5.0, -80.0], dtype=torch.float32)
    exact = [min(v, -1e-6) - math.log(-math.expm1(min(v, -1e-6))) for v in s.double().tolist()]
    assert torch.allclose(log_odds(s).double(), torch.tensor(exact, dtype=torch.float64), rtol=1e-5)
    assert torch.isfinite(log1mexp(torch.tensor([-1e-6, -100.0]))).all()


def test_response_logprobs_match_core_scoring(tiny_llama, tiny_tokenizer):
    dataset = PairDataset(PAIRS, tiny_tokenizer)
    batch = PairCollator(tiny_tokenizer.pad_token_id)(dataset.items)
    with torch.no_grad():
        sums, _ = response_logprobs(tiny_llama, batch)
    conversations = [p["prompt"] + p[side] for side in ("chosen", "rejected") for p in PAIRS]
    reference = completion_logprobs(tiny_llama, tiny_tokenizer, conversations)
    assert torch.allclose(
        sums.double(), torch.tensor([r.sum_logprob for r in reference], dtype=torch.float64), atol=1e-4
    )
    assert batch["response_mask"].sum(dim=1).tolist() == [r.num_tokens for r in reference]
    # the system and user turns (the passages) are not scored: only a few tokens per row are
    assert (batch["response_mask"].sum(dim=1) < batch["attention_mask"].sum(dim=1) / 2).all()


def test_orpo_loss_equals_a_hand_computation(tmp_path, tiny_llama, tiny_tokenizer):
    lam = 0.25
    trainer = PreferenceTrainer(copy.deepcopy(tiny_llama), args(tmp_path, beta=lam), PAIRS, tiny_tokenizer)
    batch = PairCollator(tiny_tokenizer.pad_token_id)(trainer.train_dataset.items)
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)

    def mean_logp(messages):  # by hand: full logits of one unpadded sequence, assistant tokens only
        ids, mask = tokenize_with_assistant_mask(tiny_tokenizer, messages)
        logits = tiny_llama(torch.tensor([ids])).logits[0].double().log_softmax(-1)
        picked = [logits[t - 1, ids[t]].item() for t in range(1, len(ids)) if mask[t]]
        return sum(picked) / len(picked)

    expected = []
    for pair in PAIRS:
        s_pos, s_neg = mean_logp(pair["prompt"] + pair["chosen"]), mean_logp(pair["prompt"] + pair["rejected"])
        odds = (s_pos - math.log1p(-math.exp(s_pos))) - (s_neg - math.log1p(-math.exp(s_neg)))
        expected.append(-s_pos + lam * math.log1p(math.exp(-odds)))  # −log σ(x) = log(1 + e^(−x))
    assert loss.item() == pytest.approx(sum(expected) / len(expected), rel=1e-4)


@pytest.mark.parametrize("loss", ["orpo", "dpo", "simpo", "sft"])
def test_each_loss_trains(tmp_path, tiny_llama, tiny_tokenizer, loss):
    model = copy.deepcopy(tiny_llama)
    before = model.model.layers[0].self_attn.q_proj.weight.clone()
    trainer = PreferenceTrainer(
        model, args(tmp_path, loss=loss, beta=2.0 if loss == "simpo" else 0.1), PAIRS, tiny_tokenizer
    )
    if loss == "dpo":
        assert all(len(item["ref_sum"]) == 2 for item in trainer.train_dataset.items)
    result = trainer.train()
    assert math.isfinite(result.training_loss)
    assert not torch.equal(before, model.model.layers[0].self_attn.q_proj.weight)
    logged = [h for h in trainer.state.log_history if "pref/accuracy" in h]
    assert logged and "pref/chosen_logps" in logged[0]


def test_no_silent_truncation(tmp_path, tiny_llama, tiny_tokenizer):
    with pytest.raises(LmforgeError, match=r"pair a has \d+ tokens, more than max_length=10"):
        PreferenceTrainer(copy.deepcopy(tiny_llama), args(tmp_path, max_length=10), PAIRS, tiny_tokenizer)
    with pytest.raises(LmforgeError, match="unknown loss"):
        args(tmp_path, loss="kto")
