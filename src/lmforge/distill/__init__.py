"""Distillation audit, part 1: identity consistency evaluation (ICE).

How often, under identity-probing jailbreak prompts, does a model contradict its own
identity (loose) or claim to be another vendor's model (strict; hard = strict hits from
templates that name no vendor)? Mirrors ``lmforge distill ice|rescore|agreement|compare``.
"""

from __future__ import annotations

from lmforge.distill.audit import judge_agreement, rescore
from lmforge.distill.bank import Question, Template, load_questions, load_templates, mentions_vendor
from lmforge.distill.config import IceConfig
from lmforge.distill.facts import FactBook, Family, load_facts
from lmforge.distill.ice import run_ice, summarize
from lmforge.distill.judges import Judge, OfflineJudge, Verdict, make_judge
from lmforge.distill.judges.llm import LlmJudge
from lmforge.distill.scores import Judged, agreement, bootstrap_ci, compare, ice_scores

__all__ = [
    "FactBook",
    "Family",
    "IceConfig",
    "Judge",
    "Judged",
    "LlmJudge",
    "OfflineJudge",
    "Question",
    "Template",
    "Verdict",
    "agreement",
    "bootstrap_ci",
    "compare",
    "ice_scores",
    "judge_agreement",
    "load_facts",
    "load_questions",
    "load_templates",
    "make_judge",
    "mentions_vendor",
    "rescore",
    "run_ice",
    "summarize",
]
