"""HadSkip recipe pilots: MiniLM-L6 on SST-2 at the benchmark's size, from the cached seed-42 teacher.

Each recipe overrides some ``HadSkipConfig`` fields and ``RunSettings`` (backbone/gate LR) and trains
HadSkip at b = 0.5 for 2 epochs on the benchmark's 8,000 training rows, then prints dev accuracy,
measured usage and per-layer keep rates. Needs the teacher of ``python benchmarks/hadskip.py --part
sst2`` (``.bench/hadskip/minilm-sst2/tuned/seed42/teacher``); each recipe's folder under
``.bench/hadskip-recipes/`` is reused on a rerun. About 7 min per recipe on 2 idle cores.

    python benchmarks/hadskip_recipes.py                 # every recipe below
    python benchmarks/hadskip_recipes.py gate-lr-1e-3    # some of them
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lmforge.hadskip.config import HadSkipConfig
from lmforge.hadskip.data import load_glue_task
from lmforge.hadskip.run import RESULTS_NAME, RunSettings, train_hadskip

ROOT = Path(__file__).resolve().parents[1]
TEACHER = ROOT / ".bench" / "hadskip" / "minilm-sst2" / "tuned" / "seed42" / "teacher"
OUT = ROOT / ".bench" / "hadskip-recipes"
FAST = {"learning_rate": 5e-5, "gate_learning_rate": 1e-3}
RECIPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # name: (HadSkipConfig fields, RunSettings fields)
    "defaults": ({}, {}),
    "lr-5e-5": ({}, {"learning_rate": 5e-5}),
    "two-sided-h0.5": ({"budget_mode": "two_sided", "homotopy_frac": 0.5}, {}),
    "gate-lr-1e-3": ({"homotopy_frac": 0.5}, FAST),
    "depth-init": ({"homotopy_frac": 0.5, "init_order": "depth", "init_rank_step": 0.1}, FAST),
}


def main(names: list[str]) -> int:
    task = load_glue_task("sst2", ROOT / ".." / "shared" / "data" / "glue-sst2")
    if not (TEACHER / "config.json").is_file():
        sys.exit(f"error: {TEACHER} is missing: run `python benchmarks/hadskip.py --part sst2 --no-speed` first")
    print(f"{'recipe':<16} {'dev acc':>8} {'usage':>6}  per-layer keep rates")
    for name in names or list(RECIPES):
        fields, settings = RECIPES[name]
        folder = OUT / name
        if (folder / RESULTS_NAME).is_file():
            result = json.loads((folder / RESULTS_NAME).read_text(encoding="utf-8"))
        else:
            run = RunSettings(
                epochs=2, teacher_epochs=2, max_train_examples=8000, extra_args={"use_cpu": True}, **settings
            )
            result = train_hadskip("minilm-l6", task, folder, HadSkipConfig(budget=0.5, **fields), run, TEACHER)
        found = result["hadskip"]
        rates = ", ".join(f"{rate:.2f}" for rate in found["layer_keep_rates"])
        print(f"{name:<16} {100 * found['accuracy']:7.2f}% {found['usage']:6.3f}  {rates}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
