"""RSE aggregation exactly as the note: per-dataset means, the unweighted mean over datasets, prompt bootstrap.

RSE(m, d) is the mean score of model m over the prompts of dataset d; Avg is the
*unweighted* mean of the dataset means over the datasets present (it reproduces every
Table 3 Avg; a prompt-weighted mean does not). Intervals resample prompts with replacement
within each dataset (stratified), so Avg's interval keeps each dataset's weight fixed.
Missing scores (an unparsed judge reply) are left out of the means and counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lmforge.distill.rse.similarity import ASPECTS

SCORE_KEYS = (*ASPECTS, "overall")


def unweighted_average(dataset_means: Mapping[str, float]) -> float:
    """Avg: the plain mean of the per-dataset means (each dataset counts once, whatever its size)."""
    if not dataset_means:
        raise ValueError("no dataset means to average")
    return float(np.mean(list(dataset_means.values())))


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    pick = rng.integers(0, len(values), size=(n_boot, len(values)))
    return values[pick].mean(axis=1)


def _interval(samples: np.ndarray, level: float) -> list[float]:
    alpha = (1 - level) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return [float(lo), float(hi)]


def aggregate(
    rows: Sequence[Mapping], *, keys: Sequence[str] = SCORE_KEYS, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict:
    """Per model: ``datasets`` → score → {mean, ci, n, missing}, ``avg`` → score → {mean, ci}, ``datasets_present``.

    ``rows`` hold ``model``, ``dataset`` and one value (or ``None``) per key in ``keys``.
    """
    grouped: dict[str, dict[str, list[Mapping]]] = {}
    for r in rows:
        grouped.setdefault(r["model"], {}).setdefault(r["dataset"], []).append(r)
    out: dict = {}
    for model, by_dataset in grouped.items():
        entry: dict = {"datasets": {}, "avg": {}, "datasets_present": sorted(by_dataset)}
        for key in keys:
            rng = np.random.default_rng(seed)
            means, boots = {}, []
            for dataset in entry["datasets_present"]:
                values = np.array([r[key] for r in by_dataset[dataset] if r.get(key) is not None], dtype=float)
                missing = len(by_dataset[dataset]) - len(values)
                cell = {"mean": None, "ci": None, "n": len(values), "missing": missing}
                if len(values):
                    boot = _boot_means(values, n_boot, rng)
                    cell |= {"mean": float(values.mean()), "ci": _interval(boot, level)}
                    means[dataset] = cell["mean"]
                    boots.append(boot)
                entry["datasets"].setdefault(dataset, {})[key] = cell
            avg = {"mean": None, "ci": None, "datasets": sorted(means)}
            if means:
                avg |= {"mean": unweighted_average(means), "ci": _interval(np.mean(boots, axis=0), level)}
            entry["avg"][key] = avg
        out[model] = entry
    return out


def correlation(a: Sequence[float | None], b: Sequence[float | None]) -> dict:
    """Pearson and Spearman correlation over the pairs where both values exist (offline vs judge)."""
    pairs = np.array([(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None], dtype=float)
    n = len(pairs)
    if n < 3 or np.ptp(pairs[:, 0]) == 0 or np.ptp(pairs[:, 1]) == 0:
        return {"n": n, "pearson": None, "spearman": None}
    from scipy.stats import pearsonr, spearmanr

    return {
        "n": n,
        "pearson": float(pearsonr(pairs[:, 0], pairs[:, 1])[0]),
        "spearman": float(spearmanr(pairs[:, 0], pairs[:, 1])[0]),
    }
