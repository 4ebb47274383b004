"""Integration on the bundled SmolLM2-135M-Instruct: one CounterFact edit with the default recipe."""

from __future__ import annotations

import pytest
import torch

from lmforge.roselora.edit_run import EditRunConfig, edit_once
from lmforge.roselora.requests import EditRequest, Probe

pytestmark = pytest.mark.real_model


def test_default_recipe_edits_smollm2_sparsely_and_undoes_it(smollm2) -> None:
    model, tokenizer = smollm2
    request = EditRequest(
        "The mother tongue of Danielle Darrieux is",
        "English",
        locality={"neighborhood": (Probe("Michel Rocard is a native speaker of", "French"),)},
    )
    probe = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        before = model(probe).logits

    torch.manual_seed(0)
    row = edit_once(model, tokenizer, request, EditRunConfig())

    assert row["edit_success"] == 1.0
    assert row["locality"] == 1.0
    assert row["delta_w_density"] <= row["delta_w_bound"] < 0.1  # τ = 0.1, r = 8: nominally 0.08
    with torch.no_grad():
        assert torch.equal(model(probe).logits, before)  # unload() left the shared model as it was
