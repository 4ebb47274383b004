"""``rescore`` and ``agreement``: recompute the official ICE scores and check a judge against them.

:func:`rescore` turns an official data folder into one row per model (loose, strict and
hard over all responses, plus template-bootstrap intervals where raw runs exist).
:func:`judge_agreement` runs a judge on the same responses and compares it with the
official loose and strict labels (strict label = the row is in the strict file).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from lmforge.core.errors import LmforgeError
from lmforge.distill.bank import mentions_vendor
from lmforge.distill.facts import FactBook, load_facts
from lmforge.distill.judges.base import Judge
from lmforge.distill.official import OfficialRun, Row, discover, model_key
from lmforge.distill.scores import Judged, agreement, bootstrap_ci, counts

PAPER_N = 1000  # the official code divides by a hard-coded 1,000
NO_STRICT = "no strict judgement (the strict file has no strict column: a copy of the loose file)"


def _judged(rows: Iterable[Row]) -> list[Judged]:
    return [Judged(r.template, r.loose, r.strict, mentions_vendor(r.template)) for r in rows]


def rescore_run(run: OfficialRun, *, n: int | None = None, ci: bool = True, seed: int = 0) -> dict:
    """One model's row: scores over all responses (``n`` defaults to the raw run's size, else 1,000)."""
    strict = run.strict_rows()
    loose_file = run.loose_rows()
    notes = []
    if run.attack is not None:
        rows = run.labelled_rows()
        total = n or len(rows)
        raw_hits = sum(bool(r.loose) for r in rows)
        if run.loose is not None and len(loose_file) != raw_hits:
            notes.append(f"loose file has {len(loose_file)} rows, the raw run {raw_hits} loose hits")
    else:  # score files only: loose hits are the loose file's rows, strict hits the strict file's
        total = n or PAPER_N
        notes.append(f"no raw run: loose from the loose file, n = {total}")
        hits = Counter(r.key for r in strict or ())
        rows = []
        for r in loose_file:
            in_strict = hits[r.key] > 0
            hits[r.key] -= in_strict
            rows.append(Row(r.template, r.query, r.response, True, None if strict is None else in_strict))
    if strict is not None and (missing := len(strict) - sum(bool(r.strict) for r in rows)):
        notes.append(f"{missing} strict rows match no judged response (not counted)")
    judged = _judged(rows)
    c = counts(judged)
    out: dict = {"model": run.name, "n": total, "loose_hits": c["loose"]}
    out["loose"] = c["loose"] / total
    if strict is None:
        out |= {"strict": None, "hard": None, "strict_hits": None, "hard_hits": None}
        if run.strict is not None:
            notes.append(NO_STRICT)
        else:
            notes.append("no strict file")
    else:
        out |= {
            "strict": c["strict"] / total,
            "hard": c["hard"] / total,
            "strict_hits": c["strict"],
            "hard_hits": c["hard"],
        }
    if ci and run.attack is not None:
        for score in ("loose", "strict", "hard"):
            if out[score] is not None:
                out[f"{score}_ci"] = list(bootstrap_ci(judged, score, seed=seed))
    out["files"] = {k: getattr(run, k).name for k in ("attack", "loose", "strict") if getattr(run, k) is not None}
    out["note"] = "; ".join(notes)
    return out


def rescore(path: str | Path, *, n: int | None = None, ci: bool = True, seed: int = 0) -> list[dict]:
    """Every model of an official ICE data folder, rescored (see :func:`rescore_run`)."""
    return [rescore_run(run, n=n, ci=ci, seed=seed) for run in discover(path)]


def select_runs(path: str | Path, models: Iterable[str] | None) -> list[OfficialRun]:
    """The raw runs of ``path`` (all, or those named in ``models``, compared without case/separators)."""
    runs = [r for r in discover(path) if r.attack is not None]
    if models is None:
        return runs
    wanted = {model_key(m): m for m in models}
    chosen = [r for r in runs if model_key(r.name) in wanted]
    missing = set(wanted) - {model_key(r.name) for r in chosen}
    if missing:
        names = ", ".join(r.name for r in runs)
        raise LmforgeError(f"no raw run for {', '.join(wanted[m] for m in sorted(missing))}; available: {names}")
    return chosen


def judge_agreement(
    path: str | Path, judge: Judge, *, models: Iterable[str] | None = None, book: FactBook | None = None
) -> dict:
    """Per-model and pooled agreement of ``judge`` with the official loose and strict labels.

    A model whose strict file holds no strict judgement is left out of the strict figures.
    """
    book = book or load_facts()
    per_model = {}
    pooled: dict[str, tuple[list[bool], list[bool]]] = {"loose": ([], []), "strict": ([], [])}
    for run in select_runs(path, models):
        rows = run.labelled_rows()
        verdicts = judge.judge(book.family_for(run.name), [r.response for r in rows])
        entry = {}
        for score in ("loose", "strict"):
            ref = [getattr(r, score) for r in rows]
            if any(v is None for v in ref):
                entry[score] = None
                continue
            pred = [bool(v.loose) and (score == "loose" or bool(v.strict)) for v in verdicts]
            entry[score] = agreement(pred, ref)
            pooled[score][0].extend(pred)
            pooled[score][1].extend(ref)
        entry["unparsed"] = sum(not v.parsed for v in verdicts)
        per_model[run.name] = entry
    return {
        "judge": judge.name,
        "models": per_model,
        "pooled": {s: agreement(p, r) if p else None for s, (p, r) in pooled.items()},
    }


def fmt(value: float | None, digits: int = 3) -> str:
    """A score for a table: three decimals, or ``–`` when absent."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"
