"""Distillation audit, part 2: response similarity evaluation (RSE) against a reference model.

How similar are a target's responses to a reference's, in style, logical structure and
content detail (0–2 each) and overall (1–5), per dataset and on average? Offline measures
need no judge model; an LLM judge with our three-aspect rubric can be added. Mirrors
``lmforge distill rse``.
"""

from __future__ import annotations

from lmforge.distill.rse.aggregate import aggregate, correlation, unweighted_average
from lmforge.distill.rse.judge import RubricJudge, RubricScore, parse_rubric
from lmforge.distill.rse.prompts import (
    RsePrompt,
    demo_prompts,
    load_prompt_set,
    read_answers,
    read_arenahard,
    read_numina,
    read_plain,
    read_sharegpt,
    sample,
)
from lmforge.distill.rse.run import RseConfig, load_rse_run, run_rse
from lmforge.distill.rse.similarity import (
    Calibration,
    aspect_scores,
    raw_similarities,
    rouge_l,
    skeleton,
    structure_similarity,
    style_profile,
    style_similarity,
)

__all__ = [
    "Calibration",
    "RseConfig",
    "RsePrompt",
    "RubricJudge",
    "RubricScore",
    "aggregate",
    "aspect_scores",
    "correlation",
    "demo_prompts",
    "load_prompt_set",
    "load_rse_run",
    "parse_rubric",
    "raw_similarities",
    "read_answers",
    "read_arenahard",
    "read_numina",
    "read_plain",
    "read_sharegpt",
    "rouge_l",
    "run_rse",
    "sample",
    "skeleton",
    "structure_similarity",
    "style_profile",
    "style_similarity",
    "unweighted_average",
]
