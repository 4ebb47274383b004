"""Demo stage ``skip``: a budget-0.5 HadSkip MiniLM-L6 on short Rotten Tomatoes reviews, in about 2 minutes.

The slice is small so the stage fits the demo's time on 2 CPU cores: 384 training sentences cut to 32
tokens, batch 16 (Stage 0 for 2 epochs, HadSkip for 3 epochs = 72 steps: the gates need steps more than
examples), 200 dev sentences. The printed speed-up is measured: the full model and HadSkip's
gather/scatter inference on the same dev batches of 32.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lmforge.core.demo import stage

DEMO_TRAIN, DEMO_DEV, DEMO_MAX_LENGTH = 384, 200, 32


@stage("skip", "HadSkip: MiniLM-L6 skips half its layers per review (Rotten Tomatoes slice, b = 0.5)", order=10)
def skip_stage(console: Console) -> None:
    import torch

    from lmforge.hadskip.config import HadSkipConfig
    from lmforge.hadskip.data import load_movie_reviews
    from lmforge.hadskip.run import RunSettings, benchmark, train_hadskip

    task = load_movie_reviews(DEMO_TRAIN, DEMO_DEV)
    settings = RunSettings(
        epochs=3,
        teacher_epochs=2,
        batch_size=16,
        max_length=DEMO_MAX_LENGTH,
        learning_rate=1e-4,
        extra_args={"use_cpu": True},
    )
    config = HadSkipConfig(budget=0.5, init_examples=128)
    with tempfile.TemporaryDirectory(prefix="lmforge-skip-demo-") as folder:
        start = time.perf_counter()
        results = train_hadskip("minilm-l6", task, Path(folder), config, settings)
        trained = time.perf_counter() - start
        speed = benchmark(folder, task.dev, batch_size=32, max_length=DEMO_MAX_LENGTH)
    table = Table(title=f"Rotten Tomatoes, {DEMO_TRAIN} train / {DEMO_DEV} dev sentences, trained in {trained:.0f} s")
    for column in ("model", "dev accuracy", "layer usage", "examples/s (batch 32)"):
        table.add_column(column, justify="right" if column != "model" else "left")
    teacher, hadskip = results["teacher"], results["hadskip"]
    table.add_row(
        "full MiniLM-L6 (6 layers)", f"{teacher['accuracy']:.3f}", "1.000", f"{speed['full_examples_per_s']:.0f}"
    )
    table.add_row(
        "HadSkip b = 0.5",
        f"{hadskip['accuracy']:.3f}",
        f"{hadskip['usage']:.3f}",
        f"{speed['hadskip_examples_per_s']:.0f}",
    )
    console.print(table)
    rates = " ".join(f"{rate:.2f}" for rate in hadskip["layer_keep_rates"])
    console.print(
        f"measured speed-up {speed['speedup']:.2f}x on {torch.get_num_threads()} thread(s) "
        f"(ideal 1/usage = {1 / hadskip['usage']:.2f}x); per-layer keep rates: {rates}"
    )
