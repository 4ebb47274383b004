"""RoseRAG benchmark on HotpotQA: does margin-aware preference training beat multi-turn prompting?

Default run (the issue's protocol; about 2-3 h on 2 free cores):

- ``smollm2-135m-instruct``, given-contexts mode (the question's 2 gold paragraphs + 2 of its
  distractors, ~560 tokens), the 2-turn rationale → answer protocol (rationale ≤ 64, answer ≤ 16
  tokens).
- Training: the 100 HotpotQA train questions (``hotpotqa_train_hipporag_100.json``, original
  format), 3 positive and 3 negative trajectories each (T = 0.8), pairs selected with the frozen
  starting model. Evaluation: ``dev_300.jsonl`` rows 201-300 (IRCoT format), greedy.
- Rows: vanilla single-turn prompting, multi-turn prompting, SFT on the chosen responses,
  RoseRAG (ORPO, minpos-maxneg pairs), RoseRAG with random pairs. Columns: F1, containment and
  EM with 95 % bootstrap intervals, the paired-bootstrap interval of each row's difference to
  multi-turn prompting, pairs kept, wall time of each stage and tokens/s.
- Robustness: untrained vs RoseRAG at 0, 2 and 5 distractors, with the least-squares slope of F1
  per added distractor.

``--full`` adds a DPO row, BM25 retrieval over the pooled paragraphs (k = 5), ``gemma3-270m``
(plain-text dialogue, LoRA) through the whole pipeline, and gold + 8 distractors on the
robustness curve. ``--quick`` is a smoke run (5 train questions with N = 2, dev rows 201-203,
rationales ≤ 32 tokens, one epoch, 0/2 distractors): it checks the plumbing, its numbers mean nothing.

Acceptance [design]: ``contains`` (the gold span inside the extracted answer), not the note's EM:
SmolLM2 wraps right answers ("written by Jack Owens"), so EM kept 0 of 12 positives in a smoke
run and would leave nothing to train on; ``--accept em`` restores it.

Training [design]: lr 1e-5 (the top of the note's 1e-6-1e-5 sweep), effective batch 8, 3 epochs.
The note's effective batch 32-64 would give ~6 optimizer steps on the ~70 pairs that 100 train
questions yield; every value is a flag.

Every stage writes its results as it goes under ``--out`` (default ``.bench/roserag``):
samples, scores and predictions are resumable JSONL, training resumes from its checkpoint,
generations are cached in ``<out>/responses.sqlite``, and each finished stage is recorded in
``<out>/stages.json`` (with its wall time) and not recomputed. Rerun the same command to resume.

    python benchmarks/roserag.py                  # default run
    python benchmarks/roserag.py --full           # + DPO, BM25 k=5, gemma3-270m (LoRA), 8 distractors
    python benchmarks/roserag.py --quick          # smoke run, .bench/roserag-quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lmforge.core.data import read_records, write_json
from lmforge.roserag.contexts import given_contexts
from lmforge.roserag.contexts_config import GivenContextsConfig
from lmforge.roserag.data import Question, corpus_from_questions, read_questions
from lmforge.roserag.evaluation import METRICS, paired_bootstrap_ci
from lmforge.roserag.prompting_config import PromptConfig

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hotpotqa"
TRAIN_FILE = "hotpotqa_train_hipporag_100.json"
DEV_FILE = "dev_300.jsonl"
BASELINE = "multi-turn"
NAMES = {"em": "EM", "f1": "F1", "acc": "containment"}


@dataclass(frozen=True)
class Subject:
    """One model taken through the pipeline; ``key`` prefixes its stages and files."""

    key: str
    model: str
    lora: bool


class Bench:
    """Finished stages (result + wall seconds) cached in ``<out>/stages.json``."""

    def __init__(self, out: Path, settings: dict[str, Any]) -> None:
        self.out = out
        self.path = out / "stages.json"
        self.stages: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        settings_path = out / "settings.json"
        if settings_path.is_file() and json.loads(settings_path.read_text()) != settings:
            old = json.loads(settings_path.read_text())
            changed = ", ".join(sorted(k for k in old.keys() | settings.keys() if old.get(k) != settings.get(k)))
            raise SystemExit(f"error: {out} holds results made with other settings ({changed}); pass another --out")
        out.mkdir(parents=True, exist_ok=True)
        write_json(settings_path, settings)

    def stage(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.stages:
            print(f"  running {key} ...", flush=True)
            start = time.perf_counter()
            result = compute()
            self.stages[key] = {"result": result, "seconds": time.perf_counter() - start}
            write_json(self.path, self.stages)
        return self.stages[key]["result"]

    def seconds(self, key: str) -> float | None:
        return self.stages[key]["seconds"] if key in self.stages else None

    def cache(self):
        from lmforge.core.generation import ResponseCache

        return ResponseCache(self.out / "responses.sqlite")


def _computed_tokens(generator) -> int | None:
    """New tokens the local backend generated in this stage (cached samples excluded); None over HTTP."""
    return getattr(generator, "generated_tokens", None)


def _rate(tokens: int | None, seconds: float) -> str:
    if tokens is None:
        return "—"
    return f"{tokens / seconds:.1f}" if tokens else "cached"


def _generator(bench: Bench, model: str, args: argparse.Namespace):
    from lmforge.core.generation import make_generator

    return make_generator(model, cache=bench.cache(), batch_size=args.batch_size, show_progress=False)


def run_sample(bench: Bench, subject: Subject, train: list[Question], prompt: PromptConfig, args) -> dict:
    from lmforge.roserag.sampling import sample
    from lmforge.roserag.sampling_config import SampleConfig

    path = bench.out / subject.key / "samples.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)

    def compute() -> dict:
        passages = given_contexts(train, GivenContextsConfig(n_distractors=args.distractors, seed=args.seed))
        config = SampleConfig(n=args.n, seed=args.seed, accept=args.accept, prompt=prompt)
        generator = _generator(bench, subject.model, args)
        summary = sample(generator, train, passages, path, config)
        return vars(summary) | {"drop_rate": summary.drop_rate, "tokens": _computed_tokens(generator)}

    return bench.stage(f"{subject.key}/sample", compute)


def run_select(bench: Bench, subject: Subject, rule: str) -> Path:
    from lmforge.roserag.selection import select
    from lmforge.roserag.selection_config import SelectConfig

    folder = bench.out / subject.key
    pairs = folder / f"pairs-{rule}.jsonl"

    def compute() -> dict:
        config = SelectConfig(rule=rule)
        if not config.needs_scores:
            return select(folder / "samples.jsonl", pairs, config)
        from lmforge.core.models import load_causal_lm, load_tokenizer

        lm, tokenizer = load_causal_lm(subject.model), load_tokenizer(subject.model)
        return select(folder / "samples.jsonl", pairs, config, model=lm, tokenizer=tokenizer)

    bench.stage(f"{subject.key}/select/{rule}", compute)
    return pairs


def run_train(bench: Bench, subject: Subject, row: str, loss: str, pairs: Path, args) -> Path | None:
    """Train one row's model; None when selection kept no pair."""
    import torch

    from lmforge.core.models import load_tokenizer
    from lmforge.roserag.preference_config import PreferenceConfig
    from lmforge.roserag.preference_trainer import PairDataset
    from lmforge.roserag.training import train_preferences

    output = bench.out / subject.key / "models" / row
    rows = read_records(pairs)
    if not rows:
        print(f"  {subject.key}/{row}: no pairs to train on", flush=True)
        return None

    def compute() -> dict:
        use_cpu = not torch.cuda.is_available()
        config = PreferenceConfig(
            output_dir=str(output / "checkpoints"),
            loss=loss,
            beta=args.beta,
            learning_rate=args.lr,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.train_batch,
            gradient_accumulation_steps=args.grad_accum,
            seed=args.seed,
            use_cpu=use_cpu,
            bf16=not use_cpu and torch.cuda.is_bf16_supported(),
            save_strategy="epoch",
            save_total_limit=1,
            logging_strategy="no",
            disable_tqdm=True,
        )
        metrics = train_preferences(subject.model, pairs, output, config, lora=subject.lora)
        items = PairDataset(rows, load_tokenizer(subject.model)).items
        tokens = sum(len(it["chosen_ids"]) + len(it["rejected_ids"]) for it in items) * args.epochs
        return {"pairs": len(rows), "tokens": tokens, "train_runtime": metrics.get("train_runtime")}

    bench.stage(f"{subject.key}/train/{row}", compute)
    return output


def run_eval(bench: Bench, key: str, model: str, questions, passages, prompt: PromptConfig, args) -> dict:
    from lmforge.roserag.evaluation import evaluate

    path = bench.out / "eval" / f"{key}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)

    def compute() -> dict:
        generator = _generator(bench, model, args)
        summary = evaluate(generator, questions, passages, prompt, output=path)
        return summary | {"tokens": _computed_tokens(generator)}

    bench.stage(f"eval/{key}", compute)
    return {r["id"]: r for r in read_records(path)}


def run_robustness(bench: Bench, key: str, model: str, questions, prompt: PromptConfig, args) -> dict:
    from lmforge.roserag.robustness import robustness

    def compute() -> dict:
        generator = _generator(bench, model, args)
        result = robustness(
            generator, questions, bench.out / "robustness" / key, prompt, noise=args.noise, seed=args.seed
        )
        points = [{k: p[k] for k in ("distractors", "n", *METRICS)} for p in result["curves"]["noise"]]
        return {"points": points, "f1_slope": result["f1_slope_per_distractor"]}

    return bench.stage(f"robustness/{key}/noise-{'-'.join(map(str, args.noise))}", compute)


def pipeline(bench: Bench, subject: Subject, train, dev, args) -> None:
    """Sample → select → train → evaluate → robustness for one model; prints its tables."""
    prompt = PromptConfig(max_rationale_tokens=args.rationale_tokens, max_answer_tokens=args.answer_tokens)
    if subject.model == "gemma3-270m":
        prompt = replace(prompt, system=None)  # a base model: plain-text dialogue, no system turn
    print(f"\n== {subject.key}: {subject.model}{' (LoRA)' if subject.lora else ''} ==", flush=True)
    sampled = run_sample(bench, subject, train, prompt, args)
    pairs = {rule: run_select(bench, subject, rule) for rule in ("minpos-maxneg", "random")}
    trainings = [("SFT on chosen", "sft", "minpos-maxneg"), ("RoseRAG", "orpo", "minpos-maxneg")]
    trainings.append(("RoseRAG random pairs", "orpo", "random"))
    if args.full:
        trainings.append(("RoseRAG DPO", "dpo", "minpos-maxneg"))
    models = {"vanilla single-turn": subject.model, BASELINE: subject.model}
    for row, loss, rule in trainings:
        trained = run_train(bench, subject, _slug(row), loss, pairs[rule], args)
        if trained is not None:
            models[row] = str(trained)

    passages = given_contexts(dev, GivenContextsConfig(n_distractors=args.distractors, seed=args.seed))
    single = replace(prompt, protocol="single_turn")
    results = {
        row: run_eval(
            bench,
            f"{subject.key}/{_slug(row)}",
            model,
            dev,
            passages,
            single if row.startswith("vanilla") else prompt,
            args,
        )
        for row, model in models.items()
    }
    title = f"{len(dev)} dev questions, gold + {args.distractors} distractors"
    print_table(bench, subject, title, results, {row: _slug(row) for row in models}, sampled)

    if args.full:
        from lmforge.roserag.retrieval import build_index

        index = build_index(corpus_from_questions([*train, *dev]))
        retrieved = index.retrieve([q.question for q in dev], args.k)
        rows = {f"{row}, BM25 k={args.k}": models[row] for row in (BASELINE, "RoseRAG") if row in models}
        results = {
            row: run_eval(bench, f"{subject.key}/{_slug(row)}", model, dev, retrieved, prompt, args)
            for row, model in rows.items()
        }
        results = {BASELINE: results.pop(f"{BASELINE}, BM25 k={args.k}"), **results}
        keys = {BASELINE: _slug(f"{BASELINE}, BM25 k={args.k}")} | {
            row: _slug(row) for row in results if row != BASELINE
        }
        print_table(
            bench, subject, f"{len(dev)} dev questions, BM25 over the pooled paragraphs", results, keys, sampled
        )

    print(f"\nrobustness ({len(dev)} dev questions, F1 by number of distractors added to the gold paragraphs)")
    print(f"{'model':22s} " + " ".join(f"{n:>6d}" for n in args.noise) + f" {'F1 slope/distractor':>20s}")
    for row in (BASELINE, "RoseRAG"):
        if row not in models:
            continue
        curve = run_robustness(bench, f"{subject.key}/{_slug(row)}", models[row], dev, prompt, args)
        name = "untrained" if row == BASELINE else row
        values = " ".join(f"{p['f1']:6.3f}" for p in curve["points"])
        slope = curve["f1_slope"]
        print(f"{name:22s} {values} {'—' if slope is None else f'{slope:+.4f}':>20s}")


def _slug(row: str) -> str:
    return row.lower().replace(",", "").replace("=", "").replace(" ", "-")


def print_table(
    bench: Bench, subject: Subject, title: str, results: dict[str, dict], keys: dict[str, str], sampled: dict
) -> None:
    """Quality with intervals, paired difference to multi-turn prompting, and the cost of each row."""
    print(f"\n{subject.key}: {title}")
    header = f"{'row':24s}"
    for metric in ("f1", "acc", "em"):
        header += f" {NAMES[metric] + ' [95%]':>22s} {'Δ vs MT [95%]':>24s}"
    print(header + f" {'pairs':>5s} {'train s':>8s} {'eval s':>7s} {'gen tok/s':>9s}")
    base = results[BASELINE]
    for row, preds in results.items():
        ids = [i for i in base if i in preds]
        stage = bench.stages[f"eval/{subject.key}/{keys[row]}"]
        line = f"{row:24s}"
        for metric in ("f1", "acc", "em"):
            low, high = stage["result"][f"{metric}_ci95"]
            mean = stage["result"][metric]
            line += f" {f'{mean:.3f} [{low:.3f}, {high:.3f}]':>22s}"
            if row == BASELINE:
                line += f" {'—':>24s}"
            else:
                a, b = [preds[i][metric] for i in ids], [base[i][metric] for i in ids]
                dlow, dhigh = paired_bootstrap_ci(a, b)
                line += f" {f'{sum(a) / len(a) - sum(b) / len(b):+.3f} [{dlow:+.3f}, {dhigh:+.3f}]':>24s}"
        train = bench.stages.get(f"{subject.key}/train/{keys[row]}")
        pairs = str(train["result"]["pairs"]) if train else "—"
        train_s = f"{train['seconds']:.0f}" if train else "—"
        rate = _rate(stage["result"]["tokens"], stage["seconds"])
        print(line + f" {pairs:>5s} {train_s:>8s} {stage['seconds']:7.0f} {rate:>9s}")
    sample_s = bench.seconds(f"{subject.key}/sample")
    kept = {kind: f"{sampled[kind + '_kept']}/{sampled[kind + '_sampled']}" for kind in ("positives", "negatives")}
    print(
        f"sampling: {sampled['questions']} questions, positives kept {kept['positives']}, negatives kept "
        f"{kept['negatives']}, {sampled['questions_with_both']} with both; {sample_s:.0f} s, "
        f"{_rate(sampled['tokens'], sample_s)} generated tok/s"
    )
    for key in ("minpos-maxneg", "random"):
        seconds = bench.seconds(f"{subject.key}/select/{key}")
        print(f"select {key}: {bench.stages[f'{subject.key}/select/{key}']['result']['pairs']} pairs, {seconds:.0f} s")
    for row in results:
        train = bench.stages.get(f"{subject.key}/train/{keys[row]}")
        if train:
            print(
                f"train {row}: {train['seconds']:.0f} s, {train['result']['tokens'] / train['seconds']:.0f} train tok/s"
            )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the HotpotQA files")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default .bench/roserag[-quick])")
    parser.add_argument("--quick", action="store_true", help="smoke run on a handful of questions")
    parser.add_argument("--full", action="store_true", help="add DPO, BM25 k=5, gemma3-270m (LoRA), 8 distractors")
    parser.add_argument("--train-questions", type=int, default=100)
    parser.add_argument("--dev-rows", default="201-300", help="1-based inclusive rows of dev_300.jsonl")
    parser.add_argument("--n", type=int, default=3, help="positive and negative trajectories per question")
    parser.add_argument("--accept", default="contains", help="correctness test of sampled answers: em or contains")
    parser.add_argument("--distractors", type=int, default=2)
    parser.add_argument("--noise", default=None, help="robustness distractor counts (default 0,2,5; --full adds 8)")
    parser.add_argument("--k", type=int, default=5, help="passages retrieved by BM25 (--full)")
    parser.add_argument("--rationale-tokens", type=int, default=64)
    parser.add_argument("--answer-tokens", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--beta", type=float, default=0.1, help="ORPO λ / DPO β")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument("--grad-accum", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="generation batch size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.train_questions, args.dev_rows, args.n = min(args.train_questions, 5), "201-203", min(args.n, 2)
        args.rationale_tokens, args.epochs, args.grad_accum = min(args.rationale_tokens, 32), 1.0, 1
    args.out = args.out or Path(".bench") / ("roserag-quick" if args.quick else "roserag")
    default_noise = "0,2,5,8" if args.full else "0,2" if args.quick else "0,2,5"
    args.noise = [int(v) for v in (args.noise or default_noise).split(",")]
    first, last = (int(v) for v in args.dev_rows.split("-"))
    args.dev_slice = slice(first - 1, last)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    train = read_questions(args.data / TRAIN_FILE, "hotpotqa", limit=args.train_questions)
    dev = read_questions(args.data / DEV_FILE, "hotpotqa-ircot")[args.dev_slice]
    print(f"RoseRAG benchmark: {len(train)} train questions, dev rows {args.dev_rows} ({len(dev)}), out {args.out}")
    # --full extends a default run in the same folder; every other setting changes what is cached
    ignored = {"out", "quick", "full", "noise", "batch_size", "dev_slice"}
    bench = Bench(args.out, {k: str(v) for k, v in vars(args).items() if k not in ignored})
    subjects = [Subject("smollm2", "smollm2-135m-instruct", lora=False)]
    if args.full:
        subjects.append(Subject("gemma3", "gemma3-270m", lora=True))
    for subject in subjects:
        pipeline(bench, subject, train, dev, args)
    print(f"\nstages and their wall times: {bench.path}")
    if not args.full:
        print(f"full run: {sys.executable} benchmarks/roserag.py --full")
    return 0


if __name__ == "__main__":
    sys.exit(main())
