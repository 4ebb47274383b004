"""HadSkip benchmark on GLUE (``../shared/data/glue-*``): accuracy, measured usage and CPU speed vs baselines.

The paper's epochs would take days on 2 CPU cores, so this is a reduced setting (printed with the table):

1. ``minilm-l6``, SST-2: a fixed 8,000-example training subset (the first 8,000 rows), 2 epochs for
   Stage 0 and for HadSkip, full dev set (872). Full model and HadSkip b = 0.5 with 3 seeds; HadSkip
   b ∈ {0.75, 0.25}, static first-k, static uniform drop and early exit (at the nearest usage ≤ 0.5)
   with the first seed.
2. ``minilm-l6``, RTE: full model vs HadSkip b = 0.5, 3 epochs, max length 128, 1 seed (report only:
   277 dev examples).
3. ``smollm2-135m-instruct``, SST-2: 1,000 training examples, 1 epoch, full vs HadSkip b = 0.5.

Columns: dev accuracy (mean ± std over seeds), measured layer usage, CPU throughput (examples/s at
batch 32, tokenisation excluded, one warm-up pass then the median of 5) and its ratio to the full
model measured in the same process (after all training of a seed, each method alternating with the
full model), and the paired-bootstrap 95% interval of the accuracy difference to the full model
(same seeds paired, examples resampled). Everything is cached under ``.bench/hadskip/`` (teachers,
models, one JSON per method and seed): a rerun resumes.

    python benchmarks/hadskip.py                 # everything (hours on 2 cores; resumable)
    python benchmarks/hadskip.py --part sst2     # one part: sst2, rte or smollm
    python benchmarks/hadskip.py --no-speed      # train and score only (e.g. while the machine is shared) ...
    python benchmarks/hadskip.py --remeasure-speed   # ... then every throughput again, on an idle machine
    python benchmarks/hadskip.py --quick         # smoke run of the whole pipeline (~5 min)
    python benchmarks/hadskip.py --part sst2 --seeds 42 --methods full,hadskip   # a share of one seed's work
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from hadskip_recipes import RECIPES as PILOTS  # this script's folder
from lmforge.core.data import write_json
from lmforge.hadskip.compare import LABELS, METHODS, plot_accuracy_vs_usage, run_compare
from lmforge.hadskip.config import HadSkipConfig
from lmforge.hadskip.data import load_glue_task
from lmforge.hadskip.run import RunSettings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
CACHE = ROOT / ".bench" / "hadskip"
SEEDS = (42, 43, 44)
PILOT_FIELDS, PILOT_SETTINGS = PILOTS["gate-lr-1e-3"]  # the best pilot of hadskip_recipes.py (seed 42)
RECIPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # name: (HadSkipConfig fields, RunSettings fields)
    # the pilot's distillation LR 5e-5 for HadSkip and the baselines alike; the teacher keeps 2e-5
    "tuned": (PILOT_FIELDS, {**PILOT_SETTINGS, "teacher_learning_rate": 2e-5}),
    "defaults": ({}, {}),  # the library defaults (tuned for the demo's ~50-step runs)
}


@dataclass
class Part:
    """One benchmark setting: a model on a task, the methods and seeds to run."""

    name: str
    model: str
    task: str
    train_examples: int | None
    epochs: float
    max_length: int
    seeds: tuple[int, ...]
    baselines: bool = False
    extra_budgets: tuple[float, ...] = ()
    dev_examples: int | None = None
    notes: list[str] = field(default_factory=list)


PARTS = {
    "sst2": Part("minilm-sst2", "minilm-l6", "sst2", 8000, 2, 128, SEEDS, True, (0.75, 0.25)),
    "rte": Part("minilm-rte", "minilm-l6", "rte", None, 3, 128, SEEDS[:1]),
    "smollm": Part("smollm2-sst2", "smollm2-135m-instruct", "sst2", 1000, 1, 128, SEEDS[:1]),
}
QUICK = Part("quick-minilm-sst2", "minilm-l6", "sst2", 192, 1, 64, SEEDS[:2], True, (0.75,), dev_examples=64)


def run_part(
    part: Part,
    cache: Path,
    recipe: str = "tuned",
    budget: float = 0.5,
    speed: bool = True,
    remeasure_speed: bool = False,
    only: tuple[str, ...] = METHODS,
) -> list[dict[str, Any]]:
    """Every (seed, method) of ``part`` under ``recipe`` (``only`` these methods); finished ones are read
    back from ``cache``."""
    fields, recipe_settings = RECIPES[recipe]
    task = load_glue_task(part.task, DATA / f"glue-{part.task}")
    if part.dev_examples:
        task = type(task)(task.name, task.train, task.dev.head(part.dev_examples), task.label_names)
    rows = []
    for seed in part.seeds:
        first = seed == SEEDS[0]  # baselines and extra budgets run with the first seed only
        methods = ["full", "hadskip"] + (["truncate", "uniform", "early_exit"] if part.baselines and first else [])
        methods = [m for m in methods if m in only]
        settings = RunSettings(
            epochs=part.epochs,
            teacher_epochs=part.epochs,
            max_length=part.max_length,
            seed=seed,
            max_train_examples=part.train_examples,
            extra_args={"use_cpu": True},
            **recipe_settings,
        )
        start = time.perf_counter()
        found = run_compare(
            part.model,
            task,
            cache / part.name / recipe / f"seed{seed}",
            HadSkipConfig(budget=budget, **fields),
            settings,
            methods=methods,
            speed=speed,
            hadskip_budgets=part.extra_budgets if first else (),
            remeasure_speed=remeasure_speed,
        )
        print(f"  {part.name} seed {seed}: done ({time.perf_counter() - start:.0f} s this run)", flush=True)
        rows += [{**row, "seed": seed} for row in found]
    return rows


def paired_bootstrap(
    pairs: list[tuple[list[int], list[int]]], labels: list[int], samples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% interval of mean-over-seeds accuracy(method) − accuracy(full), resampling dev examples."""
    rng = random.Random(seed)
    n = len(labels)
    hits = [[int(m == y) - int(f == y) for m, f, y in zip(method, full, labels, strict=True)] for method, full in pairs]
    diffs = []
    for _ in range(samples):
        idx = [rng.randrange(n) for _ in range(n)]
        diffs.append(statistics.fmean(sum(h[i] for i in idx) / n for h in hits))
    diffs.sort()
    return diffs[int(0.025 * samples)], diffs[int(0.975 * samples) - 1]


def summarise(part: Part, rows: list[dict[str, Any]], labels: list[int]) -> list[dict[str, Any]]:
    """One line per (method, budget): mean ± std accuracy over seeds, usage, speed, bootstrap interval."""
    full = {row["seed"]: row for row in rows if row["method"] == "full"}
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["budget"] if row["method"] != "full" else 1.0), []).append(row)
    lines = []
    for (method, budget), group in sorted(groups.items(), key=lambda g: (METHODS.index(g[0][0]), -g[0][1])):
        accuracies = [100 * r["accuracy"] for r in group]
        line = {
            "part": part.name,
            "method": method,
            "label": LABELS[method] + (f" b={budget:g}" if method == "hadskip" else ""),
            "budget": budget,
            "seeds": len(group),
            "accuracy": statistics.fmean(accuracies) / 100,
            "accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "usage": statistics.fmean(r["usage"] for r in group),
        }
        if all("speed_ratio" in r for r in group):
            line["examples_per_s"] = statistics.fmean(r["examples_per_s"] for r in group)
            line["speed_ratio"] = statistics.fmean(r["speed_ratio"] for r in group)
        if method != "full":
            pairs = [(r["predictions"], full[r["seed"]]["predictions"]) for r in group if r["seed"] in full]
            line["diff_ci95"] = [100 * x for x in paired_bootstrap(pairs, labels)]
        lines.append(line)
    return lines


def print_table(lines: list[dict[str, Any]]) -> None:
    header = f"{'method':<28} {'seeds':>5} {'dev acc (%)':>14} {'usage':>6} {'ex/s':>7} {'speed':>6}  Δacc 95% CI (pts)"
    print(header)
    print("-" * len(header))
    for line in lines:
        accuracy = f"{100 * line['accuracy']:.2f} ± {line['accuracy_std']:.2f}"
        ci = line.get("diff_ci95")
        interval = f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "(reference)"
        speed = (
            f"{line['examples_per_s']:>7.1f} {line['speed_ratio']:>5.2f}x"
            if "speed_ratio" in line
            else f"{'-':>7} {'-':>6}"
        )
        print(f"{line['label']:<28} {line['seeds']:>5} {accuracy:>14} {line['usage']:>6.3f} {speed}  {interval}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="smoke run: 192 SST-2 examples, 1 epoch, 64 dev, 2 seeds")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where teachers, models and JSON results go")
    parser.add_argument("--recipe", choices=list(RECIPES), default="tuned", help="HadSkip/distillation settings")
    parser.add_argument("--no-speed", action="store_true", help="train and score only; measure throughput later")
    parser.add_argument("--remeasure-speed", action="store_true", help="measure every method's throughput again")
    parser.add_argument("--seeds", default=None, help="comma-separated subset of a part's seeds (parallel processes)")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated subset of methods (e.g. to split one seed's work)"
    )
    args = parser.parse_args(argv)
    parts = [QUICK] if args.quick else (list(PARTS.values()) if args.part == "all" else [PARTS[args.part]])
    if args.seeds:
        wanted = {int(seed) for seed in args.seeds.split(",")}
        parts = [replace(part, seeds=tuple(s for s in part.seeds if s in wanted)) for part in parts]
    print(
        f"HadSkip benchmark on {torch.get_num_threads()} CPU thread(s). Reduced setting (the paper's epochs would "
        "take days here): MiniLM-L6 SST-2 8,000 train / 2 epochs / full dev, RTE 3 epochs, SmolLM2 SST-2 1,000 "
        "train / 1 epoch; throughput at batch 32, tokenisation excluded, warm-up + median of 5."
        + f" Recipe {args.recipe!r}: {RECIPES[args.recipe]}."
        + (" QUICK smoke run: 192 train, 1 epoch, 64 dev, max length 64 — numbers mean nothing." if args.quick else ""),
        flush=True,
    )
    summary = []
    for part in parts:
        print(f"== {part.name}: {part.model} on {part.task}", flush=True)
        rows = run_part(
            part,
            args.cache,
            args.recipe,
            speed=not args.no_speed,
            remeasure_speed=args.remeasure_speed,
            only=tuple(args.methods.split(",")),
        )
        task = load_glue_task(part.task, DATA / f"glue-{part.task}")
        labels = task.dev.head(part.dev_examples).labels
        lines = summarise(part, rows, labels)
        print_table(lines)
        summary += lines
        plot_accuracy_vs_usage(
            [{**line, "method": line["method"]} for line in lines],
            args.cache / part.name / args.recipe / "accuracy_vs_usage.png",
            title=f"{part.model} on {part.task} (mean over seeds)",
        )
        print(f"plot: {args.cache / part.name / args.recipe / 'accuracy_vs_usage.png'}", flush=True)
    write_json(args.cache / (f"summary-{args.recipe}" + ("-quick" if args.quick else "") + ".json"), summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
