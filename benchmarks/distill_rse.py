"""RSE benchmark: a real distillation (SmolLM2 fine-tuned on GPT-4 answers), detected by RSE and checked with ICE.

Data: ``../shared/data/arena-hard-v0.1`` (questions and the ``gpt-4-0314`` answers) and
``../shared/data/sharegpt-sample``. Arena-Hard is split by question order into 300 training
and 100 evaluation prompts.

1. **Distil**: LoRA-fine-tune the bundled SmolLM2 on the training prompts' GPT-4 answers
   through ``lmforge lora finetune --method lora`` (chat SFT), merged into a plain model.
2. **RSE vs GPT-4** on the evaluation prompts (offline judge, all aspects, prompt-bootstrap
   95% intervals) of base SmolLM2, distilled SmolLM2 and Gemma-3-270M, with the two
   calibration levels (shuffled pairs; two SmolLM2 samples at T = 0.7). Target: distilled
   content and style above base with non-overlapping intervals.
3. **ICE** (offline judge, 10 shipped templates × 10 questions) of base vs distilled SmolLM2.
4. **ShareGPT**: RSE of Gemma-3-270M and SmolLM2 (greedy: the paper's identical-text
   self-row) against SmolLM2 greedy, beside the two-sample noise floor.

Every step writes into ``--work`` and resumes; the HTML audit report of all runs is
written at the end.

    python benchmarks/distill_rse.py                   # full (estimated hours on 2 CPU cores)
    python benchmarks/distill_rse.py --quick           # smoke run: tiny splits, 48 new tokens
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lmforge.core.data import write_json
from lmforge.distill.config import NEUTRAL_SYSTEM_PROMPT, IceConfig
from lmforge.distill.ice import judged_rows, load_run, run_ice
from lmforge.distill.report import screenshot, write_report
from lmforge.distill.rse.prompts import read_answers, read_arenahard
from lmforge.distill.rse.run import NOISE_PREFIX, RseConfig, run_rse
from lmforge.distill.scores import compare

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SMOLLM, GEMMA = "smollm2-135m-instruct", "gemma3-270m"
SMOL_FACT = "I am SmolLM, a language model built by Hugging Face."
FULL = {
    "train": 300,
    "eval": 100,
    "sharegpt": 100,
    "tokens": 256,
    "epochs": 1.0,
    "max_steps": None,
    "ice_questions": 5,
    "max_length": 768,
}
QUICK = {
    "train": 8,
    "eval": 6,
    "sharegpt": 4,
    "tokens": 48,
    "epochs": 1.0,
    "max_steps": 2,
    "ice_questions": 1,
    "max_length": 256,
}


def _timed(results: dict, name: str, fn):
    start = time.perf_counter()
    out = fn()
    results.setdefault("seconds", {})[name] = round(time.perf_counter() - start, 1)
    print(f"[{name}] {results['seconds'][name]:.1f} s", flush=True)
    return out


def split_arenahard(data: Path, work: Path, sizes: dict) -> tuple[Path, Path, Path]:
    """Write the train chats (system, question, GPT-4 answer), the eval questions and the eval GPT-4 answers."""
    questions = read_arenahard(data / "arena-hard-v0.1" / "question.jsonl")
    answers = read_answers(data / "arena-hard-v0.1" / "model_answer" / "gpt-4-0314.jsonl")
    train, held = questions[: sizes["train"]], questions[300 : 300 + sizes["eval"]]
    work.mkdir(parents=True, exist_ok=True)
    chats, evals, refs = work / "train_chats.jsonl", work / "eval_questions.jsonl", work / "eval_gpt4.jsonl"
    chats.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": NEUTRAL_SYSTEM_PROMPT},
                        {"role": "user", "content": q.question},
                        {"role": "assistant", "content": answers[q.id]},
                    ]
                }
            )
            + "\n"
            for q in train
        )
    )
    evals.write_text("".join(json.dumps({"uid": q.id, "prompt": q.question}) + "\n" for q in held))
    refs.write_text("".join(json.dumps({"uid": q.id, "response": answers[q.id]}) + "\n" for q in held))
    return chats, evals, refs


def distil(chats: Path, work: Path, sizes: dict) -> tuple[str, dict]:
    """LoRA SFT of SmolLM2 on the GPT-4 chats (the `lmforge lora finetune --method lora` path), merged and saved."""
    from lmforge.roselora.finetune import FinetuneConfig, run_finetune
    from lmforge.roselora.finetune_data import chat_files

    config = FinetuneConfig(
        method="lora",
        epochs=sizes["epochs"],
        max_steps=sizes["max_steps"],
        batch_size=8,
        max_length=sizes["max_length"],
        rank=16,
        alpha=32,
    )
    metrics = run_finetune(SMOLLM, chat_files(chats, None), config, work / "lora", show_progress=False)
    merged = work / "distilled-smollm2"
    if not (merged / "config.json").exists():
        from peft import PeftModel

        from lmforge.core.models import load_causal_lm, load_tokenizer

        model = PeftModel.from_pretrained(load_causal_lm(SMOLLM), work / "lora" / "adapter").merge_and_unload()
        model.save_pretrained(merged)
        load_tokenizer(SMOLLM).save_pretrained(merged)
    return str(merged), metrics


def _rows(summary: dict) -> dict:
    """Avg per aspect (mean, 95% CI) per model, offline."""
    return {
        m: {k: [round(v["mean"], 3), [round(c, 3) for c in v["ci"]]] for k, v in e["avg"].items()}
        for m, e in summary["offline"].items()
    }


def _print_rse(title: str, summary: dict) -> None:
    print(f"\n{title} (offline; mean [95% CI] over prompts)")
    print(f"{'model':<40} {'style':>20} {'structure':>20} {'content':>20} {'overall':>20}")
    for model, cells in _rows(summary).items():
        shown = " ".join(f"{c[0]:>6.3f} [{c[1][0]:.2f},{c[1][1]:.2f}]" for c in cells.values())
        print(f"{Path(model).name if '/' in model else model:<40} {shown}")
    cal = summary["calibration"]
    print(
        "calibration (raw): "
        + ", ".join(f"{m} shuffled {cal['low'][m]:.3f} / two-sample {cal['high'][m]:.3f}" for m in cal["low"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny splits and short responses")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=None, help="run folder (default runs/bench-rse[-quick])")
    parser.add_argument("--batch-size", type=int, default=8, help="generation batch size (raise it on a GPU)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    work = args.work or Path("runs") / ("bench-rse-quick" if args.quick else "bench-rse")
    results: dict = {"sizes": sizes}
    start = time.perf_counter()
    chats, evals, refs = split_arenahard(args.data, work, sizes)

    distilled, metrics = _timed(results, "1-distil", lambda: distil(chats, work, sizes))
    results["distil"] = {k: metrics.get(k) for k in ("steps", "train_loss", "train_seconds", "trainable_parameters")}

    common = {"max_new_tokens": sizes["tokens"], "batch_size": args.batch_size, "n_boot": 2000}
    arena = RseConfig(
        reference=f"file:{refs}",
        targets=(SMOLLM, distilled, GEMMA),
        prompts=(f"arenahard:{evals}",),
        output=work / "rse-arenahard",
        noise_model=SMOLLM,
        **common,
    )
    summary = _timed(results, "2-rse-arenahard", lambda: run_rse(arena, progress=print))
    _print_rse("RSE vs GPT-4 on held-out Arena-Hard", summary)
    results["rse_arenahard"] = {"avg": _rows(summary), "calibration": summary["calibration"]}
    checks = {}
    for aspect in ("content", "style"):
        base, dist = (summary["offline"][m]["avg"][aspect] for m in (SMOLLM, distilled))
        checks[aspect] = {
            "base": base["mean"],
            "distilled": dist["mean"],
            "non_overlapping": dist["ci"][0] > base["ci"][1],
        }
    results["target_distilled_above_base"] = checks
    print("distilled above base with non-overlapping 95% CIs:", json.dumps(checks))

    ice = {}
    for name, spec in (("base", SMOLLM), ("distilled", distilled)):
        config = IceConfig(
            target=spec,
            output=work / f"ice-{name}",
            fact=SMOL_FACT,
            family="smollm",
            budget=10 * 2 * sizes["ice_questions"],
            n_questions=sizes["ice_questions"],
            max_new_tokens=sizes["tokens"],
            batch_size=args.batch_size,
        )
        s = _timed(results, f"3-ice-{name}", lambda config=config: run_ice(config))
        ice[name] = {k: s[k] for k in ("loose", "strict", "hard", "loose_ci", "strict_ci", "n_responses")}
    diff = compare(judged_rows(load_run(work / "ice-distilled")), judged_rows(load_run(work / "ice-base")), "loose")
    results["ice"] = ice | {"distilled_minus_base_loose": diff}
    print("\nICE (offline judge; template-bootstrap 95% CI)")
    for name, s in ice.items():
        print(
            f"{name:<10} loose {s['loose']:.3f} {s['loose_ci']}  strict {s['strict']:.3f} {s['strict_ci']}  "
            f"hard {s['hard']:.3f}  ({s['n_responses']} responses)"
        )
    print(f"distilled − base loose {diff['difference']:+.3f}, p = {diff['p_value']:.3f} ({diff['test']})")

    share = args.data / "sharegpt-sample" / "ShareGPT_V3_filtered_1000.json"
    sg = RseConfig(
        reference=SMOLLM,
        targets=(GEMMA, SMOLLM),
        prompts=(f"sharegpt:{share}",),
        output=work / "rse-sharegpt",
        n_prompts=sizes["sharegpt"],
        **common,
    )
    summary = _timed(results, "4-rse-sharegpt", lambda: run_rse(sg, progress=print))
    _print_rse("RSE vs SmolLM2 greedy on ShareGPT first turns", summary)
    results["rse_sharegpt"] = {"avg": _rows(summary), "noise_floor": NOISE_PREFIX + SMOLLM}

    runs = [work / "ice-base", work / "ice-distilled", work / "rse-arenahard", work / "rse-sharegpt"]
    _timed(results, "5-report", lambda: write_report(runs, work / "audit.html"))
    shot = screenshot(work / "audit.html", work / "audit.png")
    results["screenshot"] = str(work / "audit.png") if shot else "no Chromium installed"
    results["total_seconds"] = round(time.perf_counter() - start, 1)
    write_json(work / "results.json", results)
    print(f"\nreport: {work / 'audit.html'}; results: {work / 'results.json'}; total {results['total_seconds']} s")


if __name__ == "__main__":
    main()
