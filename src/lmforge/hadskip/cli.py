"""`lmforge skip`: train, evaluate, benchmark and compare budgeted adaptive layer skipping.

The training commands (``train``, ``compare``) and the dev-set commands (``eval``, ``bench``) each
share one declaration of their options: :func:`_training_command` and :func:`_dev_command` build a
command from an action, so a flag is declared once and every command accepts ``--config FILE``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lmforge.core.cli_app import ConfigOption, new_app
from lmforge.core.errors import LmforgeError
from lmforge.hadskip.config import DEFAULT_GATE_LR, HadSkipConfig

if TYPE_CHECKING:
    from lmforge.hadskip.run import RunSettings

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
RunArg = Annotated[Path, typer.Argument(help="Run folder written by `lmforge skip train`.")]
LimitOpt = Annotated[int | None, typer.Option(min=1, help="Use only the first N dev examples.")]


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


def _training_command(action: Callable[..., None]) -> Callable[..., None]:
    """A command with every training option (data, optimisation, HadSkip config) that calls
    ``action(model, task_data, output, hadskip_config, run_settings)``."""

    def command(
        model: Annotated[
            str, typer.Option("--model", "-m", help="Bundled name (minilm-l6, ...), model dir or hub id.")
        ],
        output: Annotated[Path, typer.Option(help="Run folder (created; finished parts are reused on a rerun).")],
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
        gate_lr: Annotated[float, typer.Option(help="Gate learning rate.")] = DEFAULT_GATE_LR,
        budget_mode: Annotated[
            str, typer.Option(help="Budget enforcement: augmented, lagrangian, penalty or two_sided.")
        ] = HadSkipConfig.budget_mode,
        eta_lambda: Annotated[
            float, typer.Option(help="Dual-ascent step of the multiplier.")
        ] = HadSkipConfig.eta_lambda,
        penalty_gamma: Annotated[
            float, typer.Option(help="Quadratic weight (augmented/penalty modes).")
        ] = HadSkipConfig.penalty_gamma,
        homotopy_frac: Annotated[
            float, typer.Option(help="Fraction of steps annealing budget and temperature.")
        ] = HadSkipConfig.homotopy_frac,
        tau_min: Annotated[float, typer.Option(help="Final gate temperature.")] = HadSkipConfig.tau_min,
        kd_alpha: Annotated[float, typer.Option(help="Distillation weight (0: no teacher).")] = HadSkipConfig.kd_alpha,
        kd_temperature: Annotated[float, typer.Option(help="Distillation temperature.")] = HadSkipConfig.kd_temperature,
        gate_hidden: Annotated[int, typer.Option(help="Hidden size of each gate MLP.")] = HadSkipConfig.gate_hidden,
        gate_input_norm: Annotated[
            str, typer.Option(help="Gate input normalisation: rms or none.")
        ] = HadSkipConfig.gate_input_norm,
        init_examples: Annotated[
            int, typer.Option(help="Training examples for layer importance.")
        ] = HadSkipConfig.init_examples,
        init_order: Annotated[
            str, typer.Option(help="Initial gate order: importance (measured) or depth (early layers first).")
        ] = HadSkipConfig.init_order,
        init_rank_step: Annotated[
            float, typer.Option(help="Initial keep-probability step between ranks.")
        ] = HadSkipConfig.init_rank_step,
        strict: Annotated[bool, typer.Option(help="Never execute more than ceil(budget·L) layers per input.")] = False,
        seed: Annotated[int, typer.Option(help="Seed of data order and initialisation.")] = 42,
        config: ConfigOption = None,
    ) -> None:
        from lmforge.hadskip.run import RunSettings

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
        hadskip = HadSkipConfig(
            budget=budget,
            budget_mode=budget_mode,  # type: ignore[arg-type]
            eta_lambda=eta_lambda,
            penalty_gamma=penalty_gamma,
            homotopy_frac=homotopy_frac,
            tau_min=tau_min,
            kd_alpha=kd_alpha,
            kd_temperature=kd_temperature,
            gate_hidden=gate_hidden,
            gate_input_norm=gate_input_norm,  # type: ignore[arg-type]
            init_examples=init_examples,
            init_order=init_order,  # type: ignore[arg-type]
            init_rank_step=init_rank_step,
            strict_budget=strict,
        )
        data = _task(task, glue_dir, train_file, eval_file, text_fields, label_field)
        action(model, data, output, hadskip, settings)

    command.__doc__ = action.__doc__
    return command


def _dev_command(action: Callable[..., None]) -> Callable[..., None]:
    """A command on a run folder and a dev set: ``action(run, dev_split, batch_size, max_length, strict)``."""

    def command(
        run: RunArg,
        task: TaskOpt = None,
        glue_dir: GlueDirOpt = None,
        eval_file: EvalFileOpt = None,
        text_fields: TextFieldsOpt = "sentence",
        label_field: LabelFieldOpt = "label",
        batch_size: BatchOpt = 32,
        max_length: MaxLengthOpt = 128,
        limit: LimitOpt = None,
        strict: Annotated[
            bool | None,
            typer.Option(help="Cap each input at ceil(budget·L) layers (--no-strict lifts it); default: as trained."),
        ] = None,
        config: ConfigOption = None,
    ) -> None:
        data = _task(task, glue_dir, None, eval_file, text_fields, label_field, need_train=False)
        action(run, data.dev.head(limit), batch_size, max_length, strict)

    command.__doc__ = action.__doc__
    return command


def _train(model: str, data: Any, output: Path, config: HadSkipConfig, settings: RunSettings) -> None:
    """Stage 0 full fine-tune (cached in OUTPUT/teacher), then HadSkip: gate init, homotopy, hard phase."""
    from lmforge.hadskip.run import train_hadskip

    results = train_hadskip(model, data, output, config, settings)
    _print_usage("full model (teacher)", results["teacher"])
    _print_usage(f"HadSkip b={config.budget}", results["hadskip"])
    console.print(f"saved to {output}")


def _compare(model: str, data: Any, output: Path, config: HadSkipConfig, settings: RunSettings) -> None:
    """HadSkip vs full model, static first-k, static uniform drop and early exit at the nearest usage ≤ budget.

    Writes OUTPUT/compare.json and OUTPUT/compare.png; each finished method is reused on a rerun.
    Throughput is measured after all training, each method alternating with the full model.
    """
    from lmforge.hadskip.compare import run_compare

    rows = run_compare(model, data, output, config, settings, speed=True)
    table = Table(title=f"{data.name}: methods at budget {config.budget} ({len(data.dev)} dev examples)")
    for column in ("method", "accuracy", "measured usage", "ex/s", "speed-up"):
        table.add_column(column, justify="right" if column != "method" else "left")
    for row in rows:
        table.add_row(
            row["label"],
            f"{row['accuracy']:.4f}",
            f"{row['usage']:.3f}",
            f"{row['examples_per_s']:.1f}",
            f"{row['speed_ratio']:.2f}x",
        )
    console.print(table)
    console.print(f"plot: {output / 'compare.png'}")


def _evaluate(run: Path, dev: Any, batch_size: int, max_length: int, strict: bool | None) -> None:
    """Dev accuracy with hard gates, measured layer usage and per-layer keep rates (also RUN/eval[-strict].json)."""
    from lmforge.core.data import write_json
    from lmforge.hadskip.run import RunSettings, evaluate_model, load_run

    model, tokenizer = load_run(run, strict)
    result = evaluate_model(model, tokenizer, dev, RunSettings(batch_size=batch_size, max_length=max_length))
    result["strict_budget"] = model.hadskip_config.strict_budget
    write_json(run / ("eval-strict.json" if strict else "eval.json"), result)
    _print_usage(f"HadSkip {run}", result)


def _bench(run: Path, dev: Any, batch_size: int, max_length: int, strict: bool | None) -> None:
    """Throughput of the full model vs HadSkip inference on the same batches (also RUN/bench.json)."""
    from lmforge.hadskip.run import benchmark

    result = benchmark(run, dev, batch_size, max_length, strict)
    where = result["device"] if result["device"] != "cpu" else f"cpu, {result['threads']} thread(s)"
    table = Table(title=f"throughput, batch {batch_size}, {where}, tokenisation excluded")
    for column in ("full ex/s", "HadSkip ex/s", "speed-up", "usage"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['full_examples_per_s']:.1f}",
        f"{result['hadskip_examples_per_s']:.1f}",
        f"{result['speedup']:.2f}x",
        f"{result['usage']:.3f}",
    )
    console.print(table)


app.command("train")(_training_command(_train))
app.command("compare")(_training_command(_compare))
app.command("eval")(_dev_command(_evaluate))
app.command("bench")(_dev_command(_bench))
