"""RoseRAG end to end on the bundled SmolLM2-135M-Instruct: sample, score, one ORPO step, evaluate."""

from __future__ import annotations

import copy
import math

import pytest

from lmforge.core.data import read_records
from lmforge.core.generation.local import HFGenerator
from lmforge.roserag.contexts import given_contexts
from lmforge.roserag.contexts_config import GivenContextsConfig
from lmforge.roserag.evaluation import evaluate
from lmforge.roserag.preference_config import PreferenceConfig
from lmforge.roserag.preference_trainer import PreferenceTrainer
from lmforge.roserag.prompting_config import PromptConfig
from lmforge.roserag.sampling import sample
from lmforge.roserag.sampling_config import SampleConfig
from lmforge.roserag.selection import pair_row, score_samples
from lmforge.roserag.selection_config import SelectConfig

pytestmark = pytest.mark.real_model


def test_pipeline_on_smollm2(tmp_path, smollm2, questions):
    model, tokenizer = smollm2
    qs = questions[:1]  # CPU generation dominates: one question, one positive and one negative
    passages = given_contexts(qs, GivenContextsConfig(n_distractors=0))
    prompt = PromptConfig(max_rationale_tokens=16, max_answer_tokens=6)
    generator = HFGenerator(model=model, tokenizer=tokenizer, name="smollm2", show_progress=False)
    summary = sample(generator, qs, passages, tmp_path / "s.jsonl", SampleConfig(n=1, prompt=prompt))
    assert summary.positives_sampled == summary.negatives_sampled == 1
    rows = read_records(tmp_path / "s.jsonl")
    assert all(c["turns"][0] and len(c["turns"]) == 2 for r in rows for c in r["candidates"])

    for row in rows:  # force a contrast so that scoring and training run whatever the model said
        row["candidates"][0]["correct"], row["candidates"][1]["correct"] = True, False
    scores = score_samples(model, tokenizer, rows, tmp_path / "scores.jsonl")
    assert all(-20 < s["mean"] < 0 for q in scores.values() for s in q.values())
    pos, neg = rows[0]["candidates"]
    pair = pair_row(rows[0], pos, neg, SelectConfig())
    args = PreferenceConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        per_device_train_batch_size=1,
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        report_to="none",
    )
    trainee = copy.deepcopy(model)
    for name, parameter in trainee.named_parameters():  # train the last block only: a cheap backward on CPU
        parameter.requires_grad = name.startswith(f"model.layers.{trainee.config.num_hidden_layers - 1}.")
    result = PreferenceTrainer(trainee, args, [pair], tokenizer).train()
    assert math.isfinite(result.training_loss)

    metrics = evaluate(generator, qs, passages, prompt)
    assert metrics["n"] == 1 and 0.0 <= metrics["f1"] <= 1.0
