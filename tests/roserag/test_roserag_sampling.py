"""Stage A: positives from answer-shown rationales, negatives from inference runs; batched per turn; resumable."""

from __future__ import annotations

import json

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.core.generation.local import HFGenerator
from lmforge.roserag.contexts import given_contexts
from lmforge.roserag.contexts_config import GivenContextsConfig
from lmforge.roserag.prompting_config import PromptConfig
from lmforge.roserag.sampling import sample
from lmforge.roserag.sampling_config import SampleConfig

from ._fixtures import ScriptedGenerator


def test_positives_and_negatives_from_the_protocol(tmp_path, questions):
    generator = ScriptedGenerator(unhinted="Rome", show_progress=False)
    passages = given_contexts(questions, GivenContextsConfig(n_distractors=0))
    config = SampleConfig(n=2, chunk_size=8)
    summary = sample(generator, questions, passages, tmp_path / "s.jsonl", config)
    assert generator.calls == 2  # one batched call per turn for every question and sample
    # every positive's rationale carries the shown answer; every negative says Rome
    assert (summary.questions, summary.positives_sampled, summary.negatives_sampled) == (3, 6, 6)
    assert summary.positives_kept == 6 and summary.negatives_kept == 6 and summary.questions_with_both == 3
    assert summary.drop_rate == 0.0
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    first = rows[0]
    assert first["id"] == "q1" and len(first["dialogue"]["users"]) == 2
    assert "correct answer" not in first["dialogue"]["users"][0]  # stored dialogue is the inference one
    pos = first["candidates"][0]
    assert pos["kind"] == "positive" and pos["turns"] == ["It is Paris.", "The answer is Paris."]
    assert pos["answer"] == "Paris" and pos["correct"] is True
    neg = first["candidates"][2]
    assert neg["kind"] == "negative" and neg["answer"] == "Rome" and neg["correct"] is False


def test_sample_resumes_after_an_interruption(tmp_path, tiny_llama, tiny_tokenizer, questions):
    passages = given_contexts(questions, GivenContextsConfig(n_distractors=1))
    prompt = PromptConfig(max_rationale_tokens=6, max_answer_tokens=3)
    config = SampleConfig(n=2, temperature=1.0, chunk_size=1, prompt=prompt)

    def generator():
        return HFGenerator(model=tiny_llama, tokenizer=tiny_tokenizer, name="tiny", show_progress=False)

    whole = tmp_path / "whole.jsonl"
    sample(generator(), questions, passages, whole, config)

    interrupted = generator()
    real_generate = interrupted.generate
    calls = []

    def failing_generate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # in the second question's answer turn
            raise KeyboardInterrupt
        return real_generate(*args, **kwargs)

    interrupted.generate = failing_generate
    resumed = tmp_path / "resumed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        sample(interrupted, questions, passages, resumed, config)
    assert len(resumed.read_text().splitlines()) == 1
    written = []
    summary = sample(generator(), questions, passages, resumed, config, on_row=written.append)
    assert [r["id"] for r in written] == ["q2", "q3"]  # q1 was not redone
    assert resumed.read_bytes() == whole.read_bytes()
    assert summary.questions == 3 and summary.positives_sampled == 6
    samples = [c["turns"][0] for r in written for c in r["candidates"]]
    assert len(set(samples)) > 1  # seeded sampling, not one repeated text

    with pytest.raises(LmforgeError, match=r"other settings \(n differ\)"):
        sample(
            generator(), questions, passages, resumed, SampleConfig(n=3, temperature=1.0, chunk_size=1, prompt=prompt)
        )
