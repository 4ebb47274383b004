"""Robustness curves: answer quality against the number of distractors and the number retrieved.

The paper's Figure 1 setting: (a) gold paragraphs plus 0, 1, 2, 3 or 5 noisy ones, (b) 1, 2, 5,
8 or 10 retrieved passages. Each point is a full :func:`~lmforge.roserag.evaluation.evaluate`
run, written to its own predictions file (so the study resumes), and the curves are saved as
JSON and PNG together with the least-squares slope of F1 per added distractor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lmforge.core.data import write_json
from lmforge.core.errors import LmforgeError
from lmforge.core.generation import Generator
from lmforge.roserag.contexts import given_contexts
from lmforge.roserag.contexts_config import GivenContextsConfig
from lmforge.roserag.data import Question
from lmforge.roserag.evaluation import evaluate
from lmforge.roserag.prompting_config import PromptConfig
from lmforge.roserag.retrieval import Retriever


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys against xs; None with fewer than two points."""
    if len(xs) < 2:
        return None
    return float(np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), 1)[0])


def robustness(
    generator: Generator,
    questions: Sequence[Question],
    output: str | Path,
    prompt: PromptConfig | None = None,
    *,
    noise: Sequence[int] = (0, 1, 2, 3, 5),
    ks: Sequence[int] = (),
    retriever: Retriever | None = None,
    seed: int = 0,
) -> dict:
    """Evaluate at each noise level (given contexts) and each k (retrieval); write JSON + PNG to ``output``."""
    if ks and retriever is None:
        raise LmforgeError("the k curve retrieves passages: pass an index")
    output = Path(output)
    curves: dict[str, list[dict]] = {"noise": [], "k": []}
    for n in noise:
        passages = given_contexts(questions, GivenContextsConfig(n_distractors=n, seed=seed))
        summary = evaluate(generator, questions, passages, prompt, output=output / f"noise_{n}.jsonl")
        curves["noise"].append({"distractors": n} | summary)
    for k in ks:
        passages = retriever.retrieve([q.question for q in questions], k)
        summary = evaluate(generator, questions, passages, prompt, output=output / f"k_{k}.jsonl")
        curves["k"].append({"k": k} | summary)
    result = {
        "curves": curves,
        "f1_slope_per_distractor": slope(
            [p["distractors"] for p in curves["noise"]], [p["f1"] for p in curves["noise"]]
        ),
        "model": generator.describe(),
    }
    write_json(output / "robustness.json", result)
    plot(curves, output / "robustness.png")
    return result


def plot(curves: dict[str, list[dict]], path: Path) -> None:
    """F1 and EM with 95% intervals against distractors and against k (one panel per curve)."""
    from matplotlib.figure import Figure

    panels = [(name, key) for name, key in (("noise", "distractors"), ("k", "k")) if curves[name]]
    figure = Figure(figsize=(5 * max(len(panels), 1), 3.6), layout="constrained")
    for i, (name, key) in enumerate(panels):
        axis = figure.add_subplot(1, len(panels), i + 1)
        xs = [p[key] for p in curves[name]]
        for metric in ("f1", "em", "acc"):
            ys = np.array([p[metric] for p in curves[name]])
            low, high = (np.array([p[f"{metric}_ci95"][j] for p in curves[name]]) for j in (0, 1))
            axis.errorbar(xs, ys, yerr=[ys - low, high - ys], marker="o", capsize=3, label=metric)
        axis.set_xlabel("noisy passages added to the gold ones" if name == "noise" else "passages retrieved (k)")
        axis.set_ylabel("score")
        axis.set_ylim(0, 1)
        axis.legend()
    figure.savefig(path, dpi=120)
