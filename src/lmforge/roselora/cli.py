"""`lmforge lora`: RoseLoRA knowledge editing from the command line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lmforge.core.cli_app import new_app
from lmforge.core.progress import progress_bar

if TYPE_CHECKING:
    from lmforge.roselora.edit_run import EditRunConfig

app = new_app("RoseLoRA: LoRA with row/column-sparse A and B, for knowledge editing and fine-tuning.")


@app.callback()
def _group() -> None:
    """RoseLoRA commands (a group even while it has one command: `lmforge lora edit`)."""


@app.command()
def edit(
    model: Annotated[str, typer.Option(help="Bundled model name, model directory, GGUF file or hub id.")],
    data: Annotated[Path, typer.Option(help="Edit requests: zsRE (MEND), CounterFact or KnowEdit .json/.jsonl.")],
    output: Annotated[Path, typer.Option(help="Folder for results.jsonl and summary.json; rerun to resume.")],
    method: Annotated[str, typer.Option(help="roselora, or lora (dense, same rank) for comparison.")] = "roselora",
    mode: Annotated[str, typer.Option(help="single (fresh adapter per edit) or sequential (edits accumulate).")] = (
        "single"
    ),
    eval_every: Annotated[int, typer.Option(help="Sequential mode: re-score all edits so far every N edits.")] = 10,
    parity: Annotated[bool, typer.Option(help="The official recipe: τ 0.05, clamp ±3e-3, kthvalue counts.")] = False,
    keep: Annotated[float | None, typer.Option(help="τ, the kept fraction of each row of A / column of B.")] = None,
    clamp: Annotated[float | None, typer.Option(help="Clamp A and B to ±CLAMP while pruning; 0 for none.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps per edit (default 25).")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate (default 5e-4).")] = None,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 32,
    targets: Annotated[str, typer.Option(help="Comma-separated module names to adapt.")] = "q_proj,v_proj",
    limit: Annotated[int | None, typer.Option(help="Edit only the first LIMIT requests.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the adapters' initialisation.")] = 0,
) -> None:
    """Edit facts and score them as EasyEdit does: one adapter per fact, or all facts in one adapter."""
    from lmforge.core.models import load_causal_lm, load_tokenizer
    from lmforge.roselora.edit_run import EditRunConfig, run_edits
    from lmforge.roselora.requests import read_requests

    requests = read_requests(data)[:limit]
    overrides: dict[str, Any] = {
        "method": method,
        "mode": mode,
        "eval_every": eval_every,
        "rank": rank,
        "alpha": alpha,
        "target_modules": tuple(t.strip() for t in targets.split(",") if t.strip()),
        "seed": seed,
    }
    given = {"keep": keep, "clamp": clamp, "steps": steps, "lr": lr}
    overrides |= {name: value for name, value in given.items() if value is not None}
    if clamp == 0:
        overrides["clamp"] = None
    config = EditRunConfig.official(**overrides) if parity else EditRunConfig(**overrides)
    console = Console()
    console.print(f"[bold]{len(requests)} {config.mode} edits[/] with {config.method}: {_describe(config)}")
    lm, tokenizer = load_causal_lm(model), load_tokenizer(model)
    with progress_bar(len(requests), "editing") as advance:
        summary = run_edits(lm, tokenizer, requests, config, output, on_edit=lambda _row: advance(1))
    table = Table("metric", "value", title=f"{output / 'summary.json'}")
    for name, value in summary.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def _describe(config: EditRunConfig) -> str:
    fields = dataclasses.asdict(config)
    return ", ".join(f"{name}={fields[name]}" for name in ("steps", "lr", "keep", "clamp", "parity", "rank"))
