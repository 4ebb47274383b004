"""Local HF backend on a tiny random Llama: batching, seeds, stop strings, sampling correctness."""

from __future__ import annotations

import pytest
import torch

from lmforge.core.generation import GenerationConfig, Prompt, ResponseCache
from lmforge.core.generation.base import SampleJob
from lmforge.core.generation.local import HFGenerator, SeededSampling, stop_token_ids, top_p_filter

PROMPTS = ["What is the capital of France?", "Hello", "Name three colors: red, green and blue. Write a poem."]


@pytest.fixture
def generator(tiny_llama, tiny_tokenizer):
    return HFGenerator(model=tiny_llama, tokenizer=tiny_tokenizer, name="tiny", batch_size=8, show_progress=False)


def test_greedy_output_does_not_depend_on_batching(generator):
    config = GenerationConfig(max_new_tokens=8)
    together = generator.generate(PROMPTS, config)
    generator.batch_size = 1
    alone = generator.generate(PROMPTS, config)
    assert together == alone


def test_sampling_is_reproducible_per_sample_whatever_the_batch(generator):
    config = GenerationConfig(max_new_tokens=8, temperature=1.0, n=3, seed=11)
    batched = generator.generate(PROMPTS, config, ids=["a", "b", "c"])
    generator.batch_size = 2
    reordered = generator.generate(PROMPTS[::-1], config, ids=["c", "b", "a"])[::-1]
    assert batched == reordered
    assert len(set(batched[2])) > 1  # a random model samples different texts
    other_seed = generator.generate(
        PROMPTS, GenerationConfig(max_new_tokens=8, temperature=1.0, n=3, seed=12), ids=["a", "b", "c"]
    )
    assert other_seed != batched


def test_stop_strings_cut_the_text(generator):
    free = generator.generate(["Hello"], GenerationConfig(max_new_tokens=12, temperature=1.0, seed=3))[0][0]
    assert len(free) > 2
    stop = free[1:3]
    cut = generator.generate(["Hello"], GenerationConfig(max_new_tokens=12, temperature=1.0, seed=3, stop=(stop,)))
    assert cut[0][0] == free[: free.index(stop)]


def test_cache_skips_the_model_on_rerun(generator, tmp_path, monkeypatch):
    generator.cache = ResponseCache(tmp_path / "r.sqlite")
    config = GenerationConfig(max_new_tokens=6)
    first = generator.generate(PROMPTS, config)
    monkeypatch.setattr(generator, "_generate_batch", lambda *a: pytest.fail("model called despite cache"))
    assert generator.generate(PROMPTS, config) == first


def test_stop_token_ids_include_end_of_turn(tiny_llama, tiny_tokenizer):
    assert tiny_tokenizer.convert_tokens_to_ids("<|im_end|>") in stop_token_ids(tiny_llama, tiny_tokenizer)


def test_top_p_keeps_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(logits, 0.7))
    assert kept.tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.01)).sum() == 1  # the top token always survives


def test_seeded_sampling_draws_from_the_softmax():
    probs = torch.tensor([0.6, 0.3, 0.1])
    logits = torch.log(probs)[None].repeat(4000, 1)
    picks = SeededSampling(range(4000), temperature=1.0, top_p=1.0)(None, logits).argmax(-1)
    freq = torch.bincount(picks, minlength=3).float() / 4000
    assert torch.allclose(freq, probs, atol=0.03)
    hot = SeededSampling(range(4000), temperature=100.0, top_p=1.0)(None, logits).argmax(-1)
    assert torch.allclose(torch.bincount(hot, minlength=3).float() / 4000, torch.full((3,), 1 / 3), atol=0.04)


def test_plain_text_mode_continues_the_raw_prompt(generator, tiny_tokenizer):
    sample = [SampleJob(Prompt.of("The capital of France is"), 0, 0)]
    templated = tiny_tokenizer.decode(generator.encode(sample)[0])
    generator.use_chat_template = False
    plain = tiny_tokenizer.decode(generator.encode(sample)[0])
    assert templated.startswith("<|im_start|>user") and plain == "The capital of France is"
    assert generator.model_id == "tiny|plain-text"
