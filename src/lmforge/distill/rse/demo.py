"""Demo stage: RSE of Gemma-3-270M against SmolLM2 on 20 shipped prompts (offline judge) and the audit report."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape

from lmforge.core.demo import stage

DEMO_PROMPTS = 20
DEMO_NEW_TOKENS = 64


@stage("distill-rse", "RSE of Gemma-3-270M vs SmolLM2 on 20 shipped prompts, offline judge; audit HTML", order=41)
def rse_stage(console: Console) -> None:
    from lmforge.core.paths import cache_root
    from lmforge.distill.cli import print_rse
    from lmforge.distill.report import write_report
    from lmforge.distill.rse.run import RseConfig, run_rse

    start = time.perf_counter()
    folder = cache_root() / "demo" / "distill"
    config = RseConfig(
        reference="smollm2-135m-instruct",
        targets=("gemma3-270m",),
        prompts=("demo",),
        output=folder / "rse",
        n_prompts=DEMO_PROMPTS,
        max_new_tokens=DEMO_NEW_TOKENS,
    )
    summary = run_rse(config)
    print_rse(summary, out=console)
    runs = [p for p in (folder / "ice", folder / "rse") if (p / "summary.json").exists()]  # ICE if a run left one
    report = folder / "audit.html"
    write_report(runs, report)
    console.print(f"audit report: {escape(str(report))}; RSE demo took {time.perf_counter() - start:.1f} s")
