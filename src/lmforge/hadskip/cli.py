"""`lmforge skip`: train, evaluate and benchmark budgeted adaptive layer skipping."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lmforge.core.cli_app import ConfigOption, new_app
from lmforge.core.errors import LmforgeError

app = new_app("HadSkip: fine-tune a classifier to skip layers per input under a compute budget.")
console = Console()

TaskOpt = Annotated[str | None, typer.Option(help="GLUE task: sst2, rte or mrpc (read from --glue-dir).")]
GlueDirOpt = Annotated[
    Path | None, typer.Option(help="GLUE folder (original or HF layout); default $LMFORGE_GLUE_DIR.")
]
TrainFileOpt = Annotated[Path | None, typer.Option(help="Own training file (.tsv/.csv/.jsonl/.json/.parquet).")]
EvalFileOpt = Annotated[Path | None, typer.Option(help="Own dev file, same columns as --train-file.")]
TextFieldsOpt = Annotated[str, typer.Option(help="Comma-separated text column(s): one, or two for pairs.")]
LabelFieldOpt = Annotated[str, typer.Option(help="Column holding the integer class id.")]
MaxLengthOpt = Annotated[int, typer.Option(min=8, help="Truncate inputs to this many tokens.")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Batch size.")]


def _task(
    task: str | None,
    glue_dir: Path | None,
    train_file: Path | None,
    eval_file: Path | None,
    text_fields: str,
    label_field: str,
    *,
    need_train: bool = True,
) -> Any:
    from lmforge.hadskip.data import Split, TaskData, load_files, load_glue_task, read_split

    fields = [f.strip() for f in text_fields.split(",") if f.strip()]
    if task is not None:
        if train_file or eval_file:
            raise LmforgeError("use either --task or --train-file/--eval-file, not both")
        return load_glue_task(task, glue_dir)
    if eval_file is None or (need_train and train_file is None):
        needed = "--train-file and --eval-file" if need_train else "--eval-file"
        raise LmforgeError(f"no data: pass --task (with --glue-dir) or {needed}")
    if need_train:
        return load_files(train_file, eval_file, fields, label_field)
    dev = read_split(eval_file, fields, label_field)
    return TaskData(eval_file.stem, Split([], []), dev, tuple(str(i) for i in range(max(dev.labels) + 1)))


def _print_usage(title: str, result: dict[str, Any]) -> None:
    table = Table(title=title)
    for column in ("accuracy", "usage", "speed-up (1/usage)", "examples"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['accuracy']:.4f}", f"{result['usage']:.3f}", f"{result['speedup']:.2f}x", str(result["examples"])
    )
    console.print(table)
    if "layer_keep_rates" in result:
        rates = " ".join(f"{i}:{rate:.2f}" for i, rate in enumerate(result["layer_keep_rates"]))
        console.print(f"per-layer keep rates  {rates}")


@app.command()
def train(
    model: Annotated[str, typer.Option("--model", "-m", help="Bundled name (minilm-l6, ...), model dir or hub id.")],
    output: Annotated[Path, typer.Option(help="Run folder: model, tokenizer, teacher/ and results.json.")],
    budget: Annotated[float, typer.Option(help="Average fraction of layers to execute, in (0, 1].")] = 0.5,
    task: TaskOpt = None,
    glue_dir: GlueDirOpt = None,
    train_file: TrainFileOpt = None,
    eval_file: EvalFileOpt = None,
    text_fields: TextFieldsOpt = "sentence",
    label_field: LabelFieldOpt = "label",
    epochs: Annotated[float, typer.Option(help="Epochs of the HadSkip stages (homotopy + hard phase).")] = 3.0,
    teacher_epochs: Annotated[float, typer.Option(help="Epochs of the Stage-0 full fine-tune.")] = 3.0,
    max_train: Annotated[int | None, typer.Option(help="Use only the first N training examples.")] = None,
    batch_size: BatchOpt = 32,
    max_length: MaxLengthOpt = 128,
    lr: Annotated[float, typer.Option(help="Backbone learning rate.")] = 2e-5,
    gate_lr: Annotated[float, typer.Option(help="Gate learning rate.")] = 1e-3,
    strict: Annotated[bool, typer.Option(help="Never execute more than ceil(budget·L) layers per input.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of data order and initialisation.")] = 42,
    config: ConfigOption = None,
) -> None:
    """Stage 0 full fine-tune (cached in OUTPUT/teacher), then HadSkip: gate init, homotopy, hard phase."""
    from lmforge.hadskip.config import HadSkipConfig
    from lmforge.hadskip.run import RunSettings, train_hadskip

    data = _task(task, glue_dir, train_file, eval_file, text_fields, label_field)
    settings = RunSettings(
        epochs=epochs,
        teacher_epochs=teacher_epochs,
        batch_size=batch_size,
        max_length=max_length,
        learning_rate=lr,
        gate_learning_rate=gate_lr,
        seed=seed,
        max_train_examples=max_train,
    )
    results = train_hadskip(model, data, output, HadSkipConfig(budget=budget, strict_budget=strict), settings)
    _print_usage("full model (teacher)", results["teacher"])
    _print_usage(f"HadSkip b={budget}", results["hadskip"])
    console.print(f"saved to {output}")


@app.command("eval")
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder written by `lmforge skip train`.")],
    task: TaskOpt = None,
    glue_dir: GlueDirOpt = None,
    eval_file: EvalFileOpt = None,
    text_fields: TextFieldsOpt = "sentence",
    label_field: LabelFieldOpt = "label",
    batch_size: BatchOpt = 32,
    max_length: MaxLengthOpt = 128,
) -> None:
    """Dev accuracy with hard gates, measured layer usage and per-layer keep rates (also RUN/eval.json)."""
    from lmforge.core.data import write_json
    from lmforge.hadskip.run import RunSettings, evaluate_model, load_run

    data = _task(task, glue_dir, None, eval_file, text_fields, label_field, need_train=False)
    model, tokenizer = load_run(run)
    result = evaluate_model(model, tokenizer, data.dev, RunSettings(batch_size=batch_size, max_length=max_length))
    write_json(run / "eval.json", result)
    _print_usage(f"HadSkip {run}", result)


@app.command()
def bench(
    run: Annotated[Path, typer.Argument(help="Run folder written by `lmforge skip train`.")],
    task: TaskOpt = None,
    glue_dir: GlueDirOpt = None,
    eval_file: EvalFileOpt = None,
    text_fields: TextFieldsOpt = "sentence",
    label_field: LabelFieldOpt = "label",
    batch_size: BatchOpt = 32,
    max_length: MaxLengthOpt = 128,
    limit: Annotated[int | None, typer.Option(help="Time only the first N dev examples.")] = None,
) -> None:
    """Throughput of the full model vs HadSkip inference on the same batches (also RUN/bench.json)."""
    from lmforge.hadskip.run import benchmark

    data = _task(task, glue_dir, None, eval_file, text_fields, label_field, need_train=False)
    result = benchmark(run, data.dev.head(limit), batch_size, max_length)
    table = Table(title=f"throughput, batch {batch_size}, {result['threads']} thread(s), tokenisation excluded")
    for column in ("full ex/s", "HadSkip ex/s", "speed-up", "usage"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['full_examples_per_s']:.1f}",
        f"{result['hadskip_examples_per_s']:.1f}",
        f"{result['speedup']:.2f}x",
        f"{result['usage']:.3f}",
    )
    console.print(table)
