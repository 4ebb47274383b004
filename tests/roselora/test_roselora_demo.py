"""The `lora` demo stage: the shipped request and the printed edit, on a tiny random Llama."""

from __future__ import annotations

import torch
from rich.console import Console

from lmforge.core.demo import STAGES
from lmforge.roselora.demo import demo_request, show_edit
from lmforge.roselora.edit_run import EditRunConfig
from lmforge.roselora.requests import EditRequest, Probe


def test_the_demo_request_edits_a_bundled_geography_fact() -> None:
    request = demo_request()
    assert request.prompt == "The capital of France is" and request.target_new == "Rome"  # a raw prompt to continue
    assert request.ground_truth == "Paris" and len(request.rephrase_prompts) == 2
    locality = request.locality["neighborhood"]
    assert len(locality) == 20 and len({probe.prompt for probe in locality}) == 20
    assert Probe("The capital of Japan is", "Tokyo") in locality and all("France" not in p.prompt for p in locality)
    assert "lora" in STAGES


def test_show_edit_prints_before_after_locality_and_the_bound(make_base, tokenizer) -> None:
    model = make_base()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    request = EditRequest(
        "t5 t6 t7", "t40", rephrase_prompts=("t8 t6 t7",), locality={"n": (Probe("t20 t21", "t22"), Probe("t9", "t3"))}
    )
    console = Console(record=True, width=200)
    row = show_edit(console, model, tokenizer, request, EditRunConfig(lr=3e-2, keep=0.25, rank=4))
    text = console.export_text()
    assert row["edit_success"] == 1.0
    assert "edit success 1.00" in text and "portability absent" in text and "≤ bound Σρ_A·ρ_B" in text
    assert "t20 t21" in text and "nominal r·τ² = 0.2500" in text
    assert all(torch.equal(original[k], v) for k, v in model.state_dict().items())
