"""``lmforge skip compare``: HadSkip and the baselines at the same budget, one table and one plot.

Every method starts from the same cached Stage-0 model (``OUTPUT/teacher``) and trains for the same
number of epochs. Each method's result is written to ``OUTPUT/<method>/result.json`` as soon as it
is done and reused on a rerun, so an interrupted comparison resumes. Throughput (optional) is
measured after all training, for every method in one process and alternating with the full model,
so a speed-up ratio never mixes two processes or a busy and an idle machine; every method leaves
what rebuilds its model (``remeasure_speed`` repeats the speed pass later, e.g. on an idle machine).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safetensors.torch import load_model, save_model
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from lmforge.core.data import write_json
from lmforge.core.errors import LmforgeError
from lmforge.hadskip.baselines import (
    DistillTrainer,
    EarlyExitModel,
    keep_layers,
    static_budget_layers,
    static_layer_indices,
)
from lmforge.hadskip.config import HadSkipConfig
from lmforge.hadskip.data import TaskData
from lmforge.hadskip.model import find_layers
from lmforge.hadskip.run import (
    RunSettings,
    batches_of,
    encode,
    predict,
    scored,
    throughputs,
    train_hadskip,
    train_teacher,
)

METHODS = ("full", "hadskip", "truncate", "uniform", "early_exit")
LABELS = {
    "full": "full model",
    "hadskip": "HadSkip",
    "truncate": "static first-k",
    "uniform": "static uniform drop",
    "early_exit": "early exit (entropy)",
}
RESULT_NAME = "result.json"
EARLY_EXIT_WEIGHTS = "early_exit.safetensors"  # backbone + exit heads, for a later speed pass


class _Comparison:
    """What every method shares: the task, the teacher, tokenised data and the settings."""

    def __init__(self, model: str, task: TaskData, output: Path, config: HadSkipConfig, settings: RunSettings) -> None:
        self.model, self.task, self.output, self.config, self.settings = model, task, output, config, settings
        self.teacher_dir = train_teacher(model, task, output, settings)
        self.tokenizer = AutoTokenizer.from_pretrained(self.teacher_dir)
        self.dev = batches_of(self.tokenizer, task.dev, settings.max_length, settings.batch_size)
        self.train = encode(self.tokenizer, task.train.head(settings.max_train_examples), settings.max_length)
        self.num_layers = len(find_layers(self.teacher())[0])

    def teacher(self) -> Any:
        return AutoModelForSequenceClassification.from_pretrained(self.teacher_dir, use_safetensors=True)

    def fine_tune(self, model: Any, name: str) -> None:
        """Distil ``model`` from the teacher for ``settings.epochs`` (HadSkip's loss and optimiser settings)."""
        args = self.settings.training_arguments(self.output / name / "trainer", self.settings.epochs)
        args.remove_unused_columns = False  # the early-exit wrapper's forward takes **kwargs
        trainer = DistillTrainer(
            model=model,
            args=args,
            train_dataset=self.train,
            data_collator=DataCollatorWithPadding(self.tokenizer),
            teacher=self.teacher(),
            kd_alpha=self.config.kd_alpha,
            kd_temperature=self.config.kd_temperature,
        )
        trainer.train()
        model.eval()

    def folder(self, method: str, budget: float) -> Path:
        return self.output / _folder(method, budget, self.config.budget)

    def speed(self, row: dict[str, Any]) -> dict[str, float]:
        """Throughput of ``row``'s model and of the full model on the dev batches, alternating, same process."""
        mine, full = throughputs([self.trained(row), self.teacher()], self.dev)
        return {"examples_per_s": mine, "full_examples_per_s": full, "speed_ratio": mine / full}

    def trained(self, row: dict[str, Any]) -> Any:
        """The inference model of a finished ``row``, rebuilt from what its method saved."""
        from lmforge.hadskip.model import HadSkipModel

        method, folder = row["method"], self.folder(row["method"], row["budget"])
        if method == "full":
            return self.teacher()
        if method == "hadskip":
            model = HadSkipModel.from_pretrained(folder)
            model.set_mode("fast")
            return model.eval()
        if method in ("truncate", "uniform"):
            return keep_layers(self.teacher(), row["kept"])  # its speed depends on the kept layers only
        weights = folder / EARLY_EXIT_WEIGHTS
        if not weights.is_file():
            raise LmforgeError(f"{weights} is missing: delete {folder} and rerun to retrain the early-exit baseline")
        model = EarlyExitModel(self.teacher())
        load_model(model, str(weights))
        model.threshold, model.exiting = row["threshold"], True
        return model.eval()

    # ----------------------------------------------------------- methods
    def run(self, method: str, budget: float) -> dict[str, Any]:
        num_layers = self.num_layers
        if method == "full":
            model = self.teacher()
            result = {**scored(predict(model, self.dev), self.task.dev), "usage": 1.0, "layers": num_layers}
        elif method == "hadskip":
            result = self._hadskip(budget)
        elif method in ("truncate", "uniform"):
            k = static_budget_layers(num_layers, self.config.budget)
            indices = static_layer_indices(num_layers, k, method)
            model = keep_layers(self.teacher(), indices)
            self.fine_tune(model, method)
            result = {**scored(predict(model, self.dev), self.task.dev), "usage": k / num_layers, "kept": indices}
        elif method == "early_exit":
            model = EarlyExitModel(self.teacher())
            self.fine_tune(model, method)
            calibration = batches_of(
                self.tokenizer, self.task.train.head(self.config.init_examples), self.settings.max_length, 64
            )
            threshold = model.calibrate(calibration, self.config.budget)
            model.exiting = True
            model.usage.reset()
            predictions = predict(model, self.dev)
            result = {**scored(predictions, self.task.dev), "usage": model.usage.usage, "threshold": threshold}
            save_model(model, str(self.folder(method, budget) / EARLY_EXIT_WEIGHTS))
        else:
            raise LmforgeError(f"unknown method {method!r}, expected one of {', '.join(METHODS)}")
        return {"method": method, "label": LABELS[method], "budget": budget, **result}

    def _hadskip(self, budget: float) -> dict[str, Any]:
        """Train (or reuse) HadSkip at ``budget`` in its folder; its dev results."""
        config = HadSkipConfig.from_dict({**self.config.to_dict(), "budget": budget})
        folder = self.folder("hadskip", budget)
        return train_hadskip(self.model, self.task, folder, config, self.settings, self.teacher_dir)["hadskip"]


def run_compare(
    model: str,
    task: TaskData,
    output: Path,
    config: HadSkipConfig,
    settings: RunSettings,
    methods: Sequence[str] = METHODS,
    speed: bool = False,
    hadskip_budgets: Sequence[float] = (),
    remeasure_speed: bool = False,
) -> list[dict[str, Any]]:
    """Train and evaluate every method (reusing finished ones); write ``compare.json`` and ``compare.png``.

    The baselines use ``config.budget``; HadSkip also runs at each of ``hadskip_budgets`` (a curve).
    With ``speed``, methods without a throughput are measured once all are trained; with
    ``remeasure_speed``, every method is measured again.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise LmforgeError(f"unknown method {unknown[0]!r}, expected some of {', '.join(METHODS)}")
    jobs = [(m, config.budget) for m in methods]
    jobs += [("hadskip", b) for b in hadskip_budgets if b != config.budget and "hadskip" in methods]
    comparison: _Comparison | None = None
    rows = []
    for method, budget in jobs:
        path = output / _folder(method, budget, config.budget) / RESULT_NAME
        if path.is_file():
            rows.append(json.loads(path.read_text(encoding="utf-8")))
            continue
        comparison = comparison or _Comparison(model, task, output, config, settings)
        row = comparison.run(method, budget)
        write_json(path, row)
        rows.append(row)
    for row in rows:
        if (speed and "speed_ratio" not in row) or remeasure_speed:
            comparison = comparison or _Comparison(model, task, output, config, settings)
            row.update(comparison.speed(row))
            write_json(comparison.folder(row["method"], row["budget"]) / RESULT_NAME, row)
    write_json(output / "compare.json", [{k: v for k, v in r.items() if k != "predictions"} for r in rows])
    plot_accuracy_vs_usage(rows, output / "compare.png", title=f"{task.name}, budget {config.budget}")
    return rows


def _folder(method: str, budget: float, main_budget: float) -> str:
    return method if budget == main_budget else f"{method}-b{budget:g}"


def plot_accuracy_vs_usage(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Every method on one accuracy-vs-measured-usage plot (one marker per method, points of a method joined)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4.2))
    axes = figure.subplots()
    by_method: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    for method, points in by_method.items():
        points = sorted(points, key=lambda r: r["usage"])
        axes.plot(
            [p["usage"] for p in points],
            [100 * p["accuracy"] for p in points],
            marker="o" if method != "full" else "*",
            markersize=9 if method == "full" else 6,
            label=LABELS.get(method, method),
        )
    axes.set_xlabel("measured layer usage (fraction of layers executed)")
    axes.set_ylabel("dev accuracy (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
