"""ICE benchmark on the official data (``../shared/data/distill-ice``), in one run.

1. **Rescore**: ``lmforge distill rescore`` must reproduce every shipped model's published
   loose / strict / hard at three decimals (the note's reference table; hit counts ÷ 1000).
2. **Agreement**: the offline judge (``paper`` mode) against the official loose and strict
   labels, per model and pooled on the report split (rules were developed only on the dev
   split), with a keyword baseline (any OpenAI/ChatGPT/GPT/Anthropic/Claude mention is a
   strict hit) measured in the same run, and the judges' speed.
3. **Real runs** with the offline judge: ICE of the bundled SmolLM2 (chat) and Gemma-3-270M
   (base, plain prompt), 20 templates × 10 questions (5 English, 5 Chinese), 256 new tokens,
   rewrites by the bundled SmolLM2, against the baseline of the unmutated seed templates
   measured in the same run; scores with template-bootstrap intervals, refused rewrites,
   wall time and responses/s. Run folders resume (``--runs``).

    python benchmarks/distill_ice.py                       # parts 1 and 2 (~20 s, no model)
    python benchmarks/distill_ice.py --part 3              # real runs (estimated 15 + 30 min on 2 cores)
    python benchmarks/distill_ice.py --part 3 --quick      # smoke run of part 3 (~3 min)
    python benchmarks/distill_ice.py --data DIR --json out.json
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from lmforge.core.data import write_json
from lmforge.distill.audit import fmt, judge_agreement, rescore
from lmforge.distill.facts import Family, load_facts
from lmforge.distill.judges import Judge, OfflineJudge, Verdict

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "distill-ice"
# Published loose / strict / hard hit counts out of 1000 (None: not published). qwen2.5-72b-instruct's
# published strict 0.000 has no strict judgement behind it in the shipped files: rescore reports none.
REFERENCE = {
    "claude-3-5-sonnet-20241022": (7, 2, 2),
    "doubao-pro-32k": (39, 6, 1),
    "llama3.1-70b-instruct": (313, 97, 0),
    "Phi4": (217, 137, 19),
    "deepseek-chat": (339, 219, 70),
    "deepseek-r1": (442, 292, 55),
    "gemini-1.5-pro-flash": (240, 29, None),
    "qwen2.5-7b": (433, 208, None),
    "qwen2.5-7b-instruct": (170, 1, None),
    "qwen2.5-14b": (446, 171, None),
    "qwen2.5-14b-instruct": (79, 0, None),
    "qwen2.5-72b": (529, 211, None),
    "qwen2.5-72b-instruct": (28, None, None),
}
DEV = [
    "claude-3-5-sonnet-20241022",
    "doubao-pro-32k",
    "llama3.1-70b-instruct",
    "Phi4",
    "qwen2.5-14b",
    "qwen2.5-7b-instruct",
]
REPORT = ["deepseek-chat", "deepseek-r1", "qwen2.5-14b-instruct", "qwen2.5-72b", "qwen2.5-72b-instruct"]


class KeywordJudge(Judge):
    """Baseline: a response naming OpenAI/ChatGPT/GPT/Anthropic/Claude anywhere is a loose and strict hit."""

    name = "keyword"
    _WORDS = re.compile(r"openai|chatgpt|\bgpt|anthropic|claude", re.IGNORECASE)

    def judge(self, family: Family, responses: list[str]) -> list[Verdict]:
        out = []
        for r in responses:
            hit = family.key not in ("gpt", "claude") and bool(self._WORDS.search(r))
            out.append(Verdict(hit, hit))
        return out


def part_rescore(data: Path) -> dict:
    start = time.perf_counter()
    rows = {r["model"]: r for r in rescore(data)}
    seconds = time.perf_counter() - start
    print(f"\n== 1. rescore ({seconds:.1f} s) ==")
    print(f"{'model':28s} {'loose':>6s} {'strict':>6s} {'hard':>6s}   reference        match")
    failures = 0
    for model, ref in REFERENCE.items():
        row = rows.get(model)
        if row is None:
            print(f"{model:28s} missing from the data")
            failures += 1
            continue
        got = (row["loose"], row["strict"], row["hard"])
        expected = tuple(None if h is None else h / 1000 for h in ref)
        ok = all(e is None or fmt(g) == fmt(e) for g, e in zip(got, expected, strict=True))
        failures += not ok
        ref_text = "/".join(fmt(e) for e in expected)
        scores = " ".join(f"{fmt(g):>6s}" for g in got)
        print(f"{model:28s} {scores}   {ref_text:16s} {'ok' if ok else 'MISMATCH'}")
    print(f"{len(REFERENCE) - failures}/{len(REFERENCE)} models reproduce the reference at three decimals")
    return {"rows": list(rows.values()), "failures": failures, "seconds": seconds}


def part_agreement(data: Path) -> dict:
    book = load_facts()
    results = {}
    for judge in (OfflineJudge(book, "paper"), KeywordJudge()):
        for split, models in (("dev", DEV), ("report", REPORT)):
            start = time.perf_counter()
            report = judge_agreement(data, judge, models=models, book=book)
            seconds = time.perf_counter() - start
            n = sum((e["loose"] or {}).get("n", 0) for e in report["models"].values())
            results[f"{judge.name}/{split}"] = report | {"seconds": seconds, "responses_per_s": n / seconds}
    print("\n== 2. judge agreement with the official labels (κ / precision / recall) ==")
    print(f"{'judge/split':22s} {'model':28s} {'loose κ/P/R':>20s} {'strict κ/P/R':>20s}")
    for key, report in results.items():
        entries = [*report["models"].items(), ("POOLED", report["pooled"])]
        for name, e in entries:
            cells = []
            for score in ("loose", "strict"):
                m = e[score]
                cells.append("–" if m is None else "/".join(fmt(m[k], 2) for k in ("kappa", "precision", "recall")))
            print(f"{key:22s} {name:28s} {cells[0]:>20s} {cells[1]:>20s}")
        print(f"{key:22s} speed: {report['responses_per_s']:.0f} responses/s")
    target = results["offline:paper/report"]["pooled"]["strict"]["kappa"]
    print(f"report-split pooled strict κ = {target:.3f} (target ≥ 0.80: {'met' if target >= 0.8 else 'NOT met'})")
    return results


REAL_TARGETS = [  # (target, plain prompt)
    ("smollm2-135m-instruct", False),
    ("gemma3-270m", True),
]


def part_real_runs(runs: Path, quick: bool) -> dict:
    from lmforge.distill.config import IceConfig
    from lmforge.distill.ice import run_ice

    templates, per_lang, tokens, rewrite_tokens = (2, 1, 32, 128) if quick else (20, 5, 256, 512)
    results = {}
    print(f"\n== 3. real runs: {templates} templates × {2 * per_lang} questions, {tokens} new tokens ==")
    header = " ".join(f"{h:>20s}" for h in ("loose (CI)", "strict (CI)", "hard (CI)"))
    print(f"{'target':24s} {'templates':16s} {header} {'refused':>8s} {'wall s':>8s} resp/s")
    for target, plain in REAL_TARGETS:
        for kind, helper in (("seeds (baseline)", None), ("fuzzed", "smollm2-135m-instruct")):
            config = IceConfig(
                target=target,
                output=runs / f"{target}-{'fuzzed' if helper else 'seeds'}{'-quick' if quick else ''}",
                helper=helper,
                budget=templates * 2 * per_lang,
                n_questions=per_lang,
                max_new_tokens=tokens,
                helper_max_new_tokens=rewrite_tokens,
                plain_prompt=plain,
            )
            s = run_ice(config)
            results[f"{target}/{kind}"] = s
            cells = [
                f"{fmt(s[k])} ({fmt(s[k + '_ci'][0])}–{fmt(s[k + '_ci'][1])})" for k in ("loose", "strict", "hard")
            ]
            rate = fmt(s["responses_per_second"], 2)
            scores = " ".join(f"{c:>20s}" for c in cells)
            print(f"{target:24s} {kind:16s} {scores} {s['refused_rewrites']:>8d} {s['wall_seconds']:>8.0f} {rate:>7s}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the distill-ice folder")
    parser.add_argument("--part", type=int, nargs="*", default=[1, 2], choices=[1, 2, 3], help="which parts to run")
    parser.add_argument("--runs", type=Path, default=Path("runs/distill-ice-bench"), help="part 3 run folders")
    parser.add_argument("--quick", action="store_true", help="part 3 on 2 templates × 2 questions, 32 new tokens")
    parser.add_argument("--json", type=Path, help="also write all results to this JSON file")
    args = parser.parse_args()
    out: dict = {}
    if 1 in args.part:
        out["rescore"] = part_rescore(args.data)
    if 2 in args.part:
        out["agreement"] = part_agreement(args.data)
    if 3 in args.part:
        out["real_runs"] = part_real_runs(args.runs, args.quick)
    if args.json:
        write_json(args.json, out)
    return 1 if out.get("rescore", {}).get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
