"""Demo stage: a small ICE of the bundled SmolLM2 with the offline judge (seed templates, no rewrites)."""

from __future__ import annotations

import shutil
import time

from rich.console import Console

from lmforge.core.demo import stage

DEMO_TEMPLATES = 4
DEMO_QUESTIONS_PER_LANG = 5  # 10 questions: 5 English, 5 Chinese
DEMO_NEW_TOKENS = 64


@stage("distill", "ICE of SmolLM2: shipped seed templates × 10 identity questions, offline judge, CIs", order=40)
def distill_stage(console: Console) -> None:
    from lmforge.core.paths import cache_root
    from lmforge.distill.cli import print_summary
    from lmforge.distill.config import IceConfig
    from lmforge.distill.ice import run_ice

    start = time.perf_counter()
    folder = cache_root() / "demo" / "distill" / "ice"  # the RSE stage puts this run in the audit report
    shutil.rmtree(folder, ignore_errors=True)  # a fresh run each time (generations come from the response cache)
    config = IceConfig(
        target="smollm2-135m-instruct",
        output=folder,
        fact="I am SmolLM, a language model built by Hugging Face.",
        budget=DEMO_TEMPLATES * 2 * DEMO_QUESTIONS_PER_LANG,
        n_questions=DEMO_QUESTIONS_PER_LANG,
        max_new_tokens=DEMO_NEW_TOKENS,
    )
    summary = run_ice(config)
    print_summary(summary, out=console)
    console.print(
        f"ICE run: {folder}; ICE demo took {time.perf_counter() - start:.1f} s "
        f"({summary['responses_per_second']:.1f} responses/s)"
    )


from lmforge.distill.rse import demo as _rse_demo  # noqa: E402, F401  (registers the RSE stage, run after ICE)
