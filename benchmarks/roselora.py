"""RoseLoRA benchmark: knowledge editing on CounterFact and zsRE, sequential editing, SST-2 fine-tuning.

0. **Tuning** (`--parts tune`, not run by default): the default recipe's grid τ ∈ {0.05, 0.1,
   0.2} × clamp {none, width-scaled} × lr {5e-4, 1e-3} on the first 20 requests of
   `counterfact-train.json`, never the evaluation edits.
1. **Single edits** (the paper's protocol) on `smollm2-135m-instruct`, the first N requests of
   `counterfact/counterfact-edit-1k.json` and of `zsre/zsre_mend_train-1k.json`, methods
   roselora (default recipe), roselora-parity (the official recipe as it behaves), lora (dense,
   same rank), adalora (PEFT, EasyEdit's 70 steps at 5e-3) and ft-l (one MLP down-projection):
   edit success, rephrase, locality, portability (absent from both files), fluency (greedy raw
   continuation, on the first edits), ΔW density vs the Σρρ bound, non-zero update entries,
   training seconds per edit; locality as the paired difference to dense LoRA with a 95 %
   bootstrap interval.
2. **Sequential editing**: the first 30 CounterFact edits in one adapter, roselora vs lora,
   retained edit success over all edits so far after 10/20/30 and locality per block of 10.
3. **Fine-tuning**: `minilm-l6` on a seeded SST-2 training subset, evaluated on GLUE dev:
   LoRA and RoseLoRA τ = 0.1 over several seeds, τ = 0.5 and 0.05 once, full fine-tuning once;
   accuracy, trainable / non-zero update parameters, and RoseLoRA's step time over LoRA's.

Every edit and every training run is written as it finishes under `--out` (default
`.bench/roselora`): rerun the same command to resume; each finished stage is cached in
`<out>/stages.json` and is not recomputed.

    python benchmarks/roselora.py                # parts 1-3; roughly 2-3 h on 2 free cores (split with --parts)
    python benchmarks/roselora.py --parts tune   # part 0 (12 cells × 20 edits, ~30 min)
    python benchmarks/roselora.py --edits 2 --fluency-edits 1 --sequential 2 --sst2-train 64 --sst2-eval 64 \\
        --sst2-epochs 1 --seeds 1 --out .bench/roselora-smoke        # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers.utils import logging as hf_logging

from lmforge.core.data import write_json
from lmforge.core.models import load_config
from lmforge.roselora.edit_run import RESULTS_NAME, EditRunConfig, run_edits
from lmforge.roselora.finetune import FinetuneConfig, run_finetune
from lmforge.roselora.finetune_data import glue_task, subsample
from lmforge.roselora.requests import read_requests

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
MODEL = "smollm2-135m-instruct"
ENCODER = "minilm-l6"
DATASETS = {
    "counterfact": "knowledge-editing/counterfact/counterfact-edit-1k.json",
    "zsre": "knowledge-editing/zsre/zsre_mend_train-1k.json",
}
EDIT_METHODS: dict[str, Callable[..., EditRunConfig]] = {
    "roselora": lambda **kw: EditRunConfig(**kw),
    "roselora-parity": lambda **kw: EditRunConfig.official(**kw),
    "lora": lambda **kw: EditRunConfig.for_method("lora", **kw),
    "adalora": lambda **kw: EditRunConfig.for_method("adalora", **kw),
    "ft-l": lambda **kw: EditRunConfig.for_method("ft-l", **kw),
}


class Bench:
    """Stage results cached in `<out>/stages.json`; the edit model is loaded only if a stage must run.

    Parts may run as parallel processes on one ``--out`` (each merges its stages into the file).
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out / "stages.json"
        self.stages: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self._lm: tuple[Any, Any] | None = None

    def stage(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.stages:
            print(f"  running {key} ", end="", flush=True)
            self.stages[key] = compute()
            on_disk = json.loads(self.path.read_text()) if self.path.is_file() else {}
            write_json(self.path, {**on_disk, **self.stages})  # keeps what a parallel run (other parts) wrote
            print(" done", flush=True)
        return self.stages[key]

    def edits(self, key: str, requests: list, config: EditRunConfig, folder: Path) -> dict[str, Any]:
        """A cached `run_edits` stage (the run itself resumes per edit if interrupted)."""
        return self.stage(key, lambda: run_edits(*self.lm, requests, config, folder, on_edit=_dot))

    @property
    def lm(self) -> tuple[Any, Any]:
        if self._lm is None:
            from lmforge.core.models import load_causal_lm, load_tokenizer

            self._lm = (load_causal_lm(MODEL), load_tokenizer(MODEL))
        return self._lm


def bootstrap_ci(diffs: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of paired differences."""
    if not diffs:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(resamples))
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def _rows(folder: Path) -> dict[int, dict[str, Any]]:
    lines = (folder / RESULTS_NAME).read_text(encoding="utf-8").splitlines()
    return {row["index"]: row for row in map(json.loads, filter(None, lines))}


def part_editing(bench: Bench, data: Path, args: argparse.Namespace) -> None:
    print(f"\n== 1. single edits, {MODEL}, first {args.edits} requests ==")
    for dataset, relative in DATASETS.items():
        requests = read_requests(data / relative)[: args.edits]
        run_name = f"{dataset}-n{args.edits}-fluency{args.fluency_edits}x{args.fluency_tokens}"
        folders = {name: bench.out / "edit" / run_name / name for name in EDIT_METHODS}
        for name, make in EDIT_METHODS.items():
            config = make(fluency_tokens=args.fluency_tokens, fluency_edits=args.fluency_edits)
            bench.edits(f"edit/{run_name}/{name}", requests, config, folders[name])
        print(f"\n{dataset}: {len(requests)} edits (portability: absent from this file)")
        header = f"{'method':16s} {'edit':>6s} {'reph':>6s} {'loc':>6s} {'Δloc vs lora [95% CI]':>24s}"
        print(header + f" {'fluency':>8s} {'ΔW dens':>8s} {'bound':>7s} {'nnz upd':>9s} {'s/edit':>7s}")
        lora = _rows(folders["lora"])
        for name, folder in folders.items():
            summary = bench.stages[f"edit/{run_name}/{name}"]
            rows = _rows(folder)
            diffs = [
                rows[i]["locality"] - lora[i]["locality"] for i in rows if i in lora and rows[i]["locality"] is not None
            ]
            low, high = bootstrap_ci(diffs)
            paired = "—" if name == "lora" else f"{statistics.fmean(diffs):+.3f} [{low:+.3f}, {high:+.3f}]"
            bound = summary["delta_w_bound_max"]
            print(
                f"{name:16s} {_quality(summary)} {paired:>24s} {_f(summary['fluency'], 8, 2)} "
                f"{_f(summary['delta_w_density'], 8, 4)} {_f(bound, 7, 4)} "
                f"{summary['update_nonzero_params']:9.0f} {_f(summary['seconds'], 7, 1)}"
            )


def part_tune(bench: Bench, data: Path, args: argparse.Namespace) -> None:
    """Grid for the default recipe on CounterFact-train (never the evaluation edits): τ × clamp × lr."""
    count = args.tune_edits
    requests = read_requests(data / "knowledge-editing/counterfact/counterfact-train.json")[:count]
    width = load_config(MODEL).hidden_size
    scaled = 3e-3 * (4096 / width) ** 0.5  # the official clamp relative to PEFT's initial |A| ≤ 1/√d_in
    print(f"\n== 0. tuning the default recipe on the first {count} CounterFact-train requests ==")
    cells = [(keep, clamp, lr) for keep in (0.05, 0.1, 0.2) for clamp in (None, scaled) for lr in (5e-4, 1e-3)]
    keys = [f"tune/counterfact-train-n{count}/keep{k}-clamp{c and round(c, 5)}-lr{lr}" for k, c, lr in cells]
    for (keep, clamp, lr), key in zip(cells, keys, strict=True):
        bench.edits(key, requests, EditRunConfig(keep=keep, clamp=clamp, lr=lr), bench.out / key)
    print(f"(clamp 'scaled' = 3e-3·√(4096/{width}) = {scaled:.4f})")
    print(f"{'keep':>5s} {'clamp':>7s} {'lr':>7s} {'edit':>6s} {'reph':>6s} {'loc':>6s} {'ΔW dens':>8s} {'steps':>6s}")
    for (keep, clamp, lr), key in zip(cells, keys, strict=True):
        summary = bench.stages[key]
        steps = statistics.fmean(r["steps"] for r in _rows(bench.out / key).values())
        print(
            f"{keep:5.2f} {'none' if clamp is None else 'scaled':>7s} {lr:7.0e} {_quality(summary)} "
            f"{_f(summary['delta_w_density'], 8, 4)} {steps:6.1f}"
        )


def part_sequential(bench: Bench, data: Path, args: argparse.Namespace) -> None:
    count = args.sequential
    print(f"\n== 2. sequential editing, first {count} CounterFact edits in one adapter ==")
    requests = read_requests(data / DATASETS["counterfact"])[:count]
    folders = {name: bench.out / "sequential" / f"counterfact-n{count}" / name for name in ("roselora", "lora")}
    for name, folder in folders.items():
        config = EDIT_METHODS[name](mode="sequential", eval_every=10)
        bench.edits(f"sequential/counterfact-n{count}/{name}", requests, config, folder)
    print(f"{'method':10s} {'after':>6s} {'retained edit success':>22s} {'locality of the block':>22s}")
    for name, folder in folders.items():
        summary = bench.stages[f"sequential/counterfact-n{count}/{name}"]
        rows = _rows(folder)
        for after, retained in summary.get("retained_edit_success", {}).items():
            block = [rows[i]["locality"] for i in range(max(0, int(after) - 10), int(after)) if rows[i]["locality"]]
            print(f"{name:10s} {after:>6s} {retained:22.3f} {_f(statistics.fmean(block) if block else None, 22)}")


def part_finetune(bench: Bench, data: Path, args: argparse.Namespace) -> None:
    print(f"\n== 3. fine-tuning {ENCODER} on SST-2 ({args.sst2_train} training rows, {args.sst2_epochs} epochs) ==")
    task = glue_task("sst2", data / "glue-sst2")
    task = dataclasses.replace(
        task, train=subsample(task.train, args.sst2_train), eval=subsample(task.eval, args.sst2_eval)
    )
    run_name = f"sst2-n{args.sst2_train}-v{args.sst2_eval or 'all'}-e{args.sst2_epochs}"
    seeds = range(args.seeds)
    runs = [("lora", None, s) for s in seeds] + [("roselora", 0.1, s) for s in seeds]
    runs += [("roselora", 0.5, 0), ("roselora", 0.05, 0)] + ([("full", None, 0)] if args.full else [])
    results: dict[str, list[dict[str, Any]]] = {}
    for method, keep, seed in runs:
        label = method if keep is None else f"{method} τ={keep}"
        config = FinetuneConfig(method=method, keep=keep or 0.1, epochs=args.sst2_epochs, seed=seed)
        folder = bench.out / "finetune" / run_name / f"{method}-{keep}-s{seed}"
        metrics = bench.stage(
            f"finetune/{run_name}/{method}-{keep}-s{seed}",
            lambda config=config, folder=folder: run_finetune(ENCODER, task, config, folder, show_progress=False),
        )
        results.setdefault(label, []).append(metrics)
    print(f"{'method':16s} {'seeds':>5s} {'accuracy':>17s} {'trainable':>10s} {'nnz update':>11s} {'s/step':>7s}")
    for label, group in results.items():
        accuracy = [m["accuracy"] for m in group]
        spread = f" ± {statistics.stdev(accuracy):.4f}" if len(accuracy) > 1 else ""
        nonzero = round(statistics.fmean(m["update_nonzero_params"] for m in group))
        print(
            f"{label:16s} {len(group):5d} {statistics.fmean(accuracy):8.4f}{spread:9s} "
            f"{group[0]['trainable_params']:10d} {nonzero:11d} "
            f"{statistics.fmean(m['seconds_per_step'] for m in group):7.3f}"
        )
    lora, rose = results.get("lora"), results.get("roselora τ=0.1")
    if lora and rose:
        ratio = statistics.fmean(m["seconds_per_step"] for m in rose) / statistics.fmean(
            m["seconds_per_step"] for m in lora
        )
        gap = statistics.fmean(m["accuracy"] for m in rose) - statistics.fmean(m["accuracy"] for m in lora)
        print(f"RoseLoRA τ=0.1 vs LoRA: accuracy {gap:+.4f}, step time ×{ratio:.2f} (target ≤ ×1.15, within 1 point)")


def _quality(summary: dict[str, Any]) -> str:
    """Edit success, rephrase success and locality, as table cells."""
    return " ".join(_f(summary[name]) for name in ("edit_success", "rephrase_success", "locality"))


def _dot(_row: dict[str, Any]) -> None:
    print(".", end="", flush=True)


def _f(value: float | None, width: int = 6, digits: int = 3) -> str:
    return f"{'—':>{width}s}" if value is None else f"{value:{width}.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=Path(".bench/roselora"), help="results (resumable)")
    parser.add_argument(
        "--parts", default="edit,sequential,finetune", help="comma-separated: tune (not by default), edit, ..."
    )
    parser.add_argument("--tune-edits", type=int, default=20, help="CounterFact-train edits per tuning cell")
    parser.add_argument("--edits", type=int, default=50, help="single edits per dataset")
    parser.add_argument("--fluency-edits", type=int, default=20, help="edits per dataset scored for fluency")
    parser.add_argument("--fluency-tokens", type=int, default=50, help="generated tokens for fluency")
    parser.add_argument("--sequential", type=int, default=30, help="CounterFact edits accumulated")
    parser.add_argument("--sst2-train", type=int, default=8000, help="SST-2 training rows (seeded subset)")
    parser.add_argument("--sst2-eval", type=int, default=None, help="SST-2 dev rows (default all 872)")
    parser.add_argument("--sst2-epochs", type=float, default=2.0)
    parser.add_argument("--seeds", type=int, default=3, help="seeds for LoRA and RoseLoRA τ=0.1")
    parser.add_argument("--no-full", dest="full", action="store_false", help="skip the full fine-tuning baseline")
    args = parser.parse_args(argv)
    hf_logging.set_verbosity_error()  # no per-load reports between the tables
    hf_logging.disable_progress_bar()
    bench = Bench(args.out)
    data = args.data.resolve()
    parts = {"tune": part_tune, "edit": part_editing, "sequential": part_sequential, "finetune": part_finetune}
    for name in args.parts.split(","):
        if name not in parts:
            parser.error(f"unknown part {name!r}; choose from {', '.join(parts)}")
        parts[name](bench, data, args)
    print(f"\nresults: {bench.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
