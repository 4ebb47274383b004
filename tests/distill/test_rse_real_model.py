"""RSE on the bundled SmolLM2 (a real model): reference, noise samples and a target, end to end."""

from __future__ import annotations

import pytest

from lmforge.core.generation.local import HFGenerator
from lmforge.distill.rse.run import NOISE_PREFIX, RseConfig, run_rse

pytestmark = pytest.mark.real_model


def test_smollm2_rse_against_itself(smollm2, tmp_path):
    model, tokenizer = smollm2
    gen = HFGenerator(model=model, tokenizer=tokenizer, name="smollm2-test", show_progress=False)
    config = RseConfig(
        reference="smollm2-135m-instruct",
        targets=("smollm2-135m-instruct",),
        prompts=("demo",),
        output=tmp_path / "rse",
        n_prompts=3,
        max_new_tokens=12,
        encoder=None,
        cache=False,
        n_boot=100,
    )
    summary = run_rse(config, generators={"smollm2-135m-instruct": gen})
    greedy = summary["offline"]["smollm2-135m-instruct"]["avg"]
    assert greedy["overall"]["mean"] == 5.0  # greedy target = greedy reference: identical text
    floor = summary["offline"][NOISE_PREFIX + "smollm2-135m-instruct"]["avg"]["overall"]
    assert 1.0 <= floor["mean"] <= 5.0 and summary["n_prompts"] == {"demo": 3}
    assert summary["settings"]["noise|smollm2-135m-instruct"]["temperature"] == 0.7
