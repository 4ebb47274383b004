"""ICE scores with honest uncertainty: loose / strict / hard, template-cluster bootstrap, comparisons.

Every score divides by *all* responses (the paper's hard-coded 1,000), so an unparsed
judgement counts as no hit and is reported beside the score. Responses to one template
are correlated (per-template loose rates span 0.12–0.96), so intervals and tests resample
or permute whole templates, not responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCORES = ("loose", "strict", "hard")


@dataclass(frozen=True)
class Judged:
    """One response's bits for scoring: its template, the judgements, and the template's vendor flag."""

    template: str
    loose: bool | None
    strict: bool | None
    template_mentions_vendor: bool = False

    def hit(self, score: str) -> bool:
        if score == "loose":
            return bool(self.loose)
        strict = bool(self.loose) and bool(self.strict)
        return strict and not self.template_mentions_vendor if score == "hard" else strict


def counts(rows: Sequence[Judged]) -> dict[str, int]:
    """Hit counts per score, plus ``n`` and ``unparsed`` (loose unknown, or a loose hit with strict unknown)."""
    out = {s: sum(r.hit(s) for r in rows) for s in SCORES}
    out["n"] = len(rows)
    out["unparsed"] = sum(r.loose is None or (bool(r.loose) and r.strict is None) for r in rows)
    return out


def ice_scores(rows: Sequence[Judged], n: int | None = None) -> dict[str, float]:
    """Loose, strict and hard as fractions of ``n`` (default: the number of responses)."""
    total = n if n is not None else len(rows)
    c = counts(rows)
    return {s: (c[s] / total if total else 0.0) for s in SCORES}


def _clusters(rows: Sequence[Judged], score: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-template (hits, responses), templates in first-seen order."""
    index: dict[str, int] = {}
    hits: list[int] = []
    sizes: list[int] = []
    for r in rows:
        i = index.setdefault(r.template, len(index))
        if i == len(hits):
            hits.append(0)
            sizes.append(0)
        hits[i] += r.hit(score)
        sizes[i] += 1
    return np.asarray(hits, dtype=float), np.asarray(sizes, dtype=float)


def bootstrap_ci(
    rows: Sequence[Judged], score: str = "loose", *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """A percentile interval for the score, resampling templates with replacement (cluster bootstrap)."""
    hits, sizes = _clusters(rows, score)
    if len(hits) == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(hits), size=(n_boot, len(hits)))
    rates = hits[pick].sum(1) / np.maximum(sizes[pick].sum(1), 1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(rates, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def binomial_ci(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson interval that treats responses as independent (shown for contrast: too narrow)."""
    from statistics import NormalDist

    if n == 0:
        return (0.0, 0.0)
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def compare(
    a: Sequence[Judged],
    b: Sequence[Judged],
    score: str = "loose",
    *,
    n_perm: int = 10000,
    seed: int = 0,
    paired: bool | None = None,
) -> dict[str, float | str]:
    """Difference of ``score`` (a − b) with a two-sided permutation p-value over templates.

    When both runs used the same templates (e.g. unmutated seeds), the test is paired: the
    sign of each template's rate difference is flipped at random. Otherwise whole templates
    are shuffled between the two runs. ``paired=None`` pairs when the template keys agree;
    pass ``paired`` when the keys do not identify the text (ICE runs key templates by iteration).
    """
    rng = np.random.default_rng(seed)
    ha, sa = _clusters(a, score)
    hb, sb = _clusters(b, score)
    rate_a, rate_b = ha.sum() / max(sa.sum(), 1), hb.sum() / max(sb.sum(), 1)
    diff = rate_a - rate_b
    templates_a = list(dict.fromkeys(r.template for r in a))
    same_keys = templates_a == list(dict.fromkeys(r.template for r in b))
    paired = same_keys if paired is None else paired and same_keys
    if paired:
        d = ha / np.maximum(sa, 1) - hb / np.maximum(sb, 1)
        signs = rng.choice([-1.0, 1.0], size=(n_perm, len(d)))
        null = np.abs((signs * d).mean(1))
        observed = abs(d.mean())
    else:
        hits, sizes = np.concatenate([ha, hb]), np.concatenate([sa, sb])
        perms = np.argsort(rng.random((n_perm, len(hits))), axis=1)
        first = perms[:, : len(ha)]
        rest = perms[:, len(ha) :]
        null = np.abs(hits[first].sum(1) / sizes[first].sum(1) - hits[rest].sum(1) / sizes[rest].sum(1))
        observed = abs(diff)
    p = (1 + np.sum(null >= observed - 1e-12)) / (1 + n_perm)
    return {
        "score": score,
        "a": float(rate_a),
        "b": float(rate_b),
        "difference": float(diff),
        "p_value": float(p),
        "test": "paired sign-flip" if paired else "template permutation",
    }


def agreement(predicted: Sequence[bool], reference: Sequence[bool]) -> dict[str, float | int]:
    """Accuracy, precision, recall and Cohen's κ of ``predicted`` against ``reference`` labels."""
    p = np.asarray(predicted, dtype=bool)
    r = np.asarray(reference, dtype=bool)
    n = len(p)
    tp, fp, fn = int(np.sum(p & r)), int(np.sum(p & ~r)), int(np.sum(~p & r))
    tn = n - tp - fp - fn
    acc = (tp + tn) / n if n else float("nan")
    expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n) if n else float("nan")
    kappa = (acc - expected) / (1 - expected) if n and expected < 1 else (1.0 if acc == 1 else 0.0)
    return {
        "n": n,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "accuracy": acc,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "kappa": kappa,
    }
