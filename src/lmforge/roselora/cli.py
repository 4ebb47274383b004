"""`lmforge lora`: RoseLoRA knowledge editing and fine-tuning from the command line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lmforge.core.cli_app import ConfigOption, new_app
from lmforge.core.errors import LmforgeError
from lmforge.core.progress import progress_bar
from lmforge.roselora.finetune_data import (
    MOVIE_REVIEWS,
    ChatData,
    ClassificationData,
    chat_files,
    glue_task,
    local_files,
    subsample,
)

if TYPE_CHECKING:
    from lmforge.roselora.edit_run import EditRunConfig

app = new_app("RoseLoRA: LoRA with row/column-sparse A and B, for knowledge editing and fine-tuning.")


@app.callback()
def _group() -> None:
    """RoseLoRA commands: `lmforge lora edit` (knowledge editing) and `lmforge lora finetune`."""


@app.command()
def edit(
    model: Annotated[str, typer.Option(help="Bundled model name, model directory, GGUF file or hub id.")],
    data: Annotated[Path, typer.Option(help="Edit requests: zsRE (MEND), CounterFact or KnowEdit .json/.jsonl.")],
    output: Annotated[Path, typer.Option(help="Folder for results.jsonl and summary.json; rerun to resume.")],
    method: Annotated[
        str, typer.Option(help="roselora; for comparison lora (dense, same rank), adalora (PEFT) or ft-l (one MLP).")
    ] = "roselora",
    mode: Annotated[str, typer.Option(help="single (fresh adapter per edit) or sequential (edits accumulate).")] = (
        "single"
    ),
    eval_every: Annotated[int, typer.Option(help="Sequential mode: re-score all edits so far every N edits.")] = 10,
    parity: Annotated[
        bool,
        typer.Option(help="The official recipe as it runs: τ 0.05, clamp ±3e-3, kthvalue counts, always 22 steps."),
    ] = False,
    keep: Annotated[
        float | None, typer.Option(help="τ, the kept fraction of each row of A / column of B (default 0.05).")
    ] = None,
    clamp: Annotated[float | None, typer.Option(help="Clamp A and B to ±CLAMP while pruning; 0 for none.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps per edit (default 25; adalora 70).")] = None,
    lr: Annotated[
        float | None, typer.Option(help="Adam learning rate (default roselora 1e-3, adalora 5e-3, others 5e-4).")
    ] = None,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 32,
    targets: Annotated[str, typer.Option(help="Comma-separated module names to adapt.")] = "q_proj,v_proj",
    limit: Annotated[int | None, typer.Option(help="Edit only the first LIMIT requests.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the adapters' initialisation.")] = 0,
    ft_layer: Annotated[
        int | None, typer.Option(help="ft-l: the layer whose mlp.down_proj trains (default (21·layers)//32).")
    ] = None,
    fluency_tokens: Annotated[
        int, typer.Option(help="Score fluency on this many greedy tokens after the raw prompt (0: off; EasyEdit 100).")
    ] = 0,
    fluency_edits: Annotated[int | None, typer.Option(help="Score fluency on the first N edits only.")] = None,
    config: ConfigOption = None,
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
        "ft_layer": ft_layer,
        "fluency_tokens": fluency_tokens,
        "fluency_edits": fluency_edits,
    }
    given = {"keep": keep, "clamp": clamp, "steps": steps, "lr": lr}
    overrides |= {name: value for name, value in given.items() if value is not None}
    if clamp == 0:
        overrides["clamp"] = None
    if parity and method != "roselora":
        raise LmforgeError("--parity is the official RoseLoRA recipe; use it with --method roselora")
    run = EditRunConfig.official(**overrides) if parity else EditRunConfig.for_method(**overrides)
    console = Console()
    console.print(f"[bold]{len(requests)} {run.mode} edits[/] with {run.method}: {_describe(run)}")
    lm, tokenizer = load_causal_lm(model), load_tokenizer(model)
    with progress_bar(len(requests), "editing") as advance:
        summary = run_edits(lm, tokenizer, requests, run, output, on_edit=lambda _row: advance(1))
    table = Table("metric", "value", title=f"{output / 'summary.json'}")
    for name, value in summary.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def _describe(config: EditRunConfig) -> str:
    fields = dataclasses.asdict(config)
    return ", ".join(f"{name}={fields[name]}" for name in ("steps", "lr", "keep", "clamp", "parity", "rank"))


@app.command()
def finetune(
    model: Annotated[str, typer.Option(help="Bundled model name, model directory, GGUF file or hub id.")],
    output: Annotated[Path, typer.Option(help="Folder for the adapter, metrics.json and sparsity.json.")],
    task: Annotated[
        str | None, typer.Option(help="sst2 or mrpc (GLUE files), or movie-reviews (bundled; the default).")
    ] = None,
    glue_dir: Annotated[
        Path | None, typer.Option(envvar="LMFORGE_GLUE_DIR", help="Folder with a GLUE task's train.tsv and dev.tsv.")
    ] = None,
    train_file: Annotated[
        Path | None, typer.Option(help="Your data: a classification file (with --text-fields) or chat .jsonl (SFT).")
    ] = None,
    eval_file: Annotated[Path | None, typer.Option(help="Evaluation rows in the layout of --train-file.")] = None,
    text_fields: Annotated[
        str | None, typer.Option(help="Classification: one or two comma-separated text columns.")
    ] = None,
    label_field: Annotated[str, typer.Option(help="Classification: the label column.")] = "label",
    method: Annotated[str, typer.Option(help="roselora, lora (dense, same rank) or full fine-tuning.")] = "roselora",
    keep: Annotated[float, typer.Option(help="τ, the kept fraction of each row of A / column of B.")] = 0.1,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 16,
    targets: Annotated[
        str | None, typer.Option(help="Comma-separated modules to adapt (default: PEFT's q/v for the architecture).")
    ] = None,
    clamp: Annotated[float | None, typer.Option(help="Clamp A and B to ±CLAMP while pruning (default none).")] = None,
    epochs: Annotated[float, typer.Option(help="Training epochs.")] = 2.0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimizer steps instead.")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per optimizer step.")] = 32,
    lr: Annotated[
        float | None, typer.Option(help="Learning rate (default: adapters 5e-4 / 2e-4 SFT; full 5e-5 / 2e-5 SFT).")
    ] = None,
    max_length: Annotated[int, typer.Option(help="Truncate inputs to this many tokens.")] = 128,
    max_train: Annotated[int | None, typer.Option(help="Train on a seeded random subset of N rows.")] = None,
    max_eval: Annotated[int | None, typer.Option(help="Evaluate on a seeded random subset of N rows.")] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    config: ConfigOption = None,
) -> None:
    """Fine-tune with RoseLoRA (or LoRA / full) for classification or chat SFT, then save and evaluate."""
    from lmforge.roselora.finetune import FinetuneConfig, run_finetune

    settings = FinetuneConfig(
        method=method,
        keep=keep,
        rank=rank,
        alpha=alpha,
        targets=_names(targets) if targets else None,
        clamp=clamp,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        max_length=max_length,
        seed=seed,
    )
    data = _finetune_data(task, glue_dir, train_file, eval_file, text_fields, label_field)
    data = dataclasses.replace(data, train=subsample(data.train, max_train), eval=subsample(data.eval, max_eval))
    console = Console()
    console.print(
        f"[bold]{settings.method}[/] on {data.name}: {len(data.train)} training / {len(data.eval)} evaluation rows"
    )
    metrics = run_finetune(model, data, settings, output)
    table = Table("metric", "value", title=f"{output / 'metrics.json'}")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _finetune_data(
    task: str | None,
    glue_dir: Path | None,
    train_file: Path | None,
    eval_file: Path | None,
    text_fields: str | None,
    label_field: str,
) -> ChatData | ClassificationData:
    """A GLUE/bundled task, the user's classification files, or chat SFT files (rows with `messages`)."""
    if task is not None and train_file is not None:
        raise LmforgeError("give either --task or --train-file, not both")
    if train_file is None:
        if eval_file is not None or text_fields is not None:
            raise LmforgeError("--eval-file and --text-fields go with --train-file")
        return glue_task(task or MOVIE_REVIEWS, glue_dir)
    if text_fields is not None:
        return local_files(train_file, eval_file, _names(text_fields), label_field)
    return chat_files(train_file, eval_file)
