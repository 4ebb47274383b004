"""The audit report: ICE and RSE runs side by side in one self-contained HTML file and a JSON twin.

The HTML needs no network: plots are inline PNG (base64), styles are inline, and there is
no script. Audit outputs are adversarial text (jailbreak prompts, responses written to fool
a judge), so every string that comes from a run — model names, prompts, responses, judge
notes — is HTML-escaped before it is placed in the page.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from lmforge.core.data import read_json, write_json
from lmforge.core.errors import LmforgeError
from lmforge.distill.rse.run import NOISE_PREFIX, load_rse_run

SCHEMA_VERSION = 1
ASPECT_LABELS = {"style": "style", "structure": "structure", "content": "content", "overall": "overall (1–5)"}


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ci(ci: list[float] | None, digits: int = 3) -> str:
    return "–" if not ci else f"{ci[0]:.{digits}f}–{ci[1]:.{digits}f}"


def _ice_entry(folder: Path, summary: dict, samples: int) -> dict:
    from lmforge.distill.ice import load_run

    rows = load_run(folder)
    hits = sorted(rows, key=lambda r: (not r.get("strict"), not r.get("loose")))  # strict hits, then loose, first
    model = summary.get("config", {}).get("target") or summary.get("target", {}).get("model", folder.name)
    keep = (
        "loose",
        "strict",
        "hard",
        "loose_ci",
        "strict_ci",
        "hard_ci",
        "loose_hits",
        "strict_hits",
        "hard_hits",
        "n_responses",
        "n_templates",
        "unparsed",
        "strict_vendors",
        "refused_rewrites",
        "judge",
        "family",
    )
    return (
        {"run": str(folder), "model": model}
        | {k: summary.get(k) for k in keep}
        | {
            "samples": [
                {k: r.get(k) for k in ("prompt", "response", "loose", "strict", "vendors", "template_id")}
                for r in hits[:samples]
            ]
        }
    )


def _rse_entry(folder: Path, summary: dict, samples: int) -> dict:
    _, scores, responses = load_rse_run(folder)
    by_key = {(r["role"], r["model"], r["dataset"], r["prompt_id"], r["sample"]): r["response"] for r in responses}
    reference = summary["reference"]
    shown: dict[str, list[dict]] = {}
    for row in scores:
        model = row["model"]
        if model.startswith(NOISE_PREFIX) or len(shown.setdefault(model, [])) >= samples:
            continue
        shown[model].append(
            {
                "dataset": row["dataset"],
                "prompt_id": row["prompt_id"],
                "question": row.get("question"),
                "reference": by_key.get(("reference", reference, row["dataset"], row["prompt_id"], 0)),
                "response": by_key.get(("target", model, row["dataset"], row["prompt_id"], 0)),
                "overall": row["overall"],
            }
        )
    keep = (
        "reference",
        "targets",
        "noise_model",
        "datasets",
        "datasets_absent",
        "n_prompts",
        "calibration",
        "offline",
        "llm",
        "judge",
        "unparsed",
        "correlation",
        "settings",
    )
    return {"run": str(folder)} | {k: summary.get(k) for k in keep} | {"samples": shown}


def build_report(run_dirs: list[str | Path], *, samples: int = 3) -> dict:
    """The report's data (the JSON twin): ICE entries, RSE entries and the ICE × RSE points."""
    if not run_dirs:
        raise LmforgeError("pass at least one ICE or RSE run folder")
    ice, rse = [], []
    for folder in map(Path, run_dirs):
        path = folder / "summary.json"
        if not path.is_file():
            raise LmforgeError(f"{folder}: no summary.json (pass finished ICE or RSE run folders)")
        summary = read_json(path)
        if summary.get("kind") == "rse":
            rse.append(_rse_entry(folder, summary, samples))
        elif "loose" in summary:
            ice.append(_ice_entry(folder, summary, samples))
        else:
            raise LmforgeError(f"{folder}: summary.json is neither an ICE nor an RSE summary")
    scatter = []
    for entry in ice:
        for run in rse:
            avg = (run["offline"].get(entry["model"]) or {}).get("avg", {}).get("overall")
            if avg and avg["mean"] is not None:
                scatter.append(
                    {
                        "model": entry["model"],
                        "strict": entry["strict"],
                        "loose": entry["loose"],
                        "rse_overall": avg["mean"],
                        "rse_ci": avg["ci"],
                        "reference": run["reference"],
                    }
                )
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "ice": ice,
        "rse": rse,
        "scatter": scatter,
    }


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _label(text: str) -> str:
    """A plot label: matplotlib reads ``$…$`` as math, so dollars are escaped."""
    return text.replace("$", r"\$")


def _plots(report: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = {}
    if report["ice"]:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        width = 0.25
        for k, score in enumerate(("loose", "strict", "hard")):
            xs = np.arange(len(report["ice"])) + (k - 1) * width
            vals = [e[score] for e in report["ice"]]
            cis = [e.get(f"{score}_ci") or [v, v] for e, v in zip(report["ice"], vals, strict=True)]
            err = np.array(
                [[v - c[0] for v, c in zip(vals, cis, strict=True)], [c[1] - v for v, c in zip(vals, cis, strict=True)]]
            )
            ax.bar(xs, vals, width, yerr=np.clip(err, 0, None), capsize=3, label=score)
        ax.set_xticks(range(len(report["ice"])), [_label(e["model"]) for e in report["ice"]], rotation=15)
        ax.set_ylabel("fraction of responses")
        ax.set_title("ICE with template-bootstrap 95% CI")
        ax.legend()
        out["ice"] = _png(fig)
    for i, run in enumerate(report["rse"]):
        models = list(run["offline"])
        fig, ax = plt.subplots(figsize=(7, 3.2))
        width = 0.8 / 3
        for k, aspect in enumerate(("style", "structure", "content")):
            cells = [run["offline"][m]["avg"][aspect] for m in models]
            vals = [c["mean"] or 0.0 for c in cells]
            err = np.array(
                [
                    [v - (c["ci"] or [v, v])[0] for v, c in zip(vals, cells, strict=True)],
                    [(c["ci"] or [v, v])[1] - v for v, c in zip(vals, cells, strict=True)],
                ]
            )
            ax.bar(
                np.arange(len(models)) + (k - 1) * width,
                vals,
                width,
                yerr=np.clip(err, 0, None),
                capsize=3,
                label=aspect,
            )
        ax.set_xticks(range(len(models)), [_label(m) for m in models], rotation=15)
        ax.set_ylim(0, 2.1)
        ax.set_ylabel("0–2 (offline, calibrated)")
        ax.set_title(_label(f"RSE vs {run['reference']}: Avg over datasets, 95% CI"))
        ax.legend()
        out[f"rse{i}"] = _png(fig)
    if report["scatter"]:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for p in report["scatter"]:
            ax.scatter(p["rse_overall"], p["strict"])
            ax.annotate(_label(p["model"]), (p["rse_overall"], p["strict"]), fontsize=8)
        ax.set_xlabel("RSE overall (1–5, offline)")
        ax.set_ylabel("ICE strict")
        ax.set_title("ICE × RSE")
        out["scatter"] = _png(fig)
    return out


def _table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells must already be escaped."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pre(text: object, limit: int = 2000) -> str:
    s = "" if text is None else str(text)
    return f"<pre>{_esc(s[:limit] + (' …' if len(s) > limit else ''))}</pre>"


def _ice_html(report: dict, plots: dict) -> str:
    if not report["ice"]:
        return "<p>No ICE run given.</p>"
    rows = []
    for e in report["ice"]:
        cells = [_esc(e["model"])]
        for s in ("loose", "strict", "hard"):
            cells.append(f"{_fmt(e[s])} <small>({_ci(e.get(f'{s}_ci'))})</small>")
        vendors = ", ".join(f"{k} {v}" for k, v in (e.get("strict_vendors") or {}).items()) or "none"
        cells += [_esc(e.get("n_responses")), _esc(e.get("unparsed")), _esc(vendors), _esc(e.get("judge"))]
        rows.append(cells)
    header = ["model", "loose (95% CI)", "strict", "hard", "responses", "unparsed", "strict hits by vendor", "judge"]
    parts = [_table(header, rows), plots.get("ice", "")]
    for e in report["ice"]:
        parts.append(f"<h3>ICE responses: {_esc(e['model'])}</h3>")
        for s in e["samples"]:
            parts.append(
                f"<div class=sample><b>loose {_esc(s['loose'])}, strict {_esc(s['strict'])}</b>"
                f"<details><summary>prompt</summary>{_pre(s['prompt'])}</details>{_pre(s['response'])}</div>"
            )
    return "".join(parts)


def _rse_html(report: dict, plots: dict) -> str:
    if not report["rse"]:
        return "<p>No RSE run given.</p>"
    parts = []
    for i, run in enumerate(report["rse"]):
        parts.append(f"<h3>Reference: {_esc(run['reference'])}</h3>")
        absent = ", ".join(run.get("datasets_absent") or []) or "none"
        n = ", ".join(f"{d} {k}" for d, k in (run.get("n_prompts") or {}).items())
        cal = run["calibration"]
        parts.append(
            f"<p>Prompts: {_esc(n)}. Datasets absent: {_esc(absent)} (Avg is the unweighted mean over the "
            f"datasets present). Calibration from {_esc(cal['source'])}: 0 = shuffled pairs, 2 = two "
            f"samples on the same prompt.</p>"
        )
        if cal.get("notes"):
            notes = "; ".join(map(_esc, cal["notes"]))
            parts.append(f"<p><b>Degenerate calibration</b> (that measure scores only 0 or 2): {notes}</p>")
        for source in ("offline", "llm"):
            block = run.get(source)
            if not block:
                continue
            datasets = run["datasets"]
            header = ["model", "aspect", *map(_esc, datasets), "Avg (95% CI)"]
            rows = []
            for model, entry in block.items():
                label = _esc(model) + (" <small>(noise floor)</small>" if model.startswith(NOISE_PREFIX) else "")
                for aspect, name in ASPECT_LABELS.items():
                    cells = [entry["datasets"].get(d, {}).get(aspect, {}) for d in datasets]
                    avg = entry["avg"][aspect]
                    rows.append(
                        [
                            label,
                            name,
                            *(_fmt(c.get("mean")) for c in cells),
                            f"{_fmt(avg['mean'])} <small>({_ci(avg['ci'])})</small>",
                        ]
                    )
            title = "offline similarity" if source == "offline" else f"LLM judge {_esc(run.get('judge'))}"
            parts.append(f"<h4>{title}</h4>{_table(header, rows)}")
        if run.get("unparsed"):
            parts.append(f"<p>Unparsed judge replies: {_esc(json.dumps(run['unparsed']))}</p>")
        if run.get("correlation"):
            corr = [
                [_esc(k), _fmt(v["pearson"]), _fmt(v["spearman"]), _esc(v["n"])] for k, v in run["correlation"].items()
            ]
            parts.append("<h4>Offline vs judge</h4>" + _table(["score", "Pearson", "Spearman", "n"], corr))
        parts.append(plots.get(f"rse{i}", ""))
        for model, shown in run["samples"].items():
            parts.append(f"<h4>Responses: {_esc(model)}</h4>")
            for s in shown:
                parts.append(
                    f"<div class=sample><b>{_esc(s['dataset'])}:{_esc(s['prompt_id'])}</b> overall "
                    f"{_fmt(s['overall'], 2)}<details><summary>prompt</summary>{_pre(s['question'])}"
                    f"</details><div class=pair><div>reference{_pre(s['reference'])}</div>"
                    f"<div>response{_pre(s['response'])}</div></div></div>"
                )
    return "".join(parts)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;
max-height:18em;overflow:auto}.pair{display:grid;grid-template-columns:1fr 1fr;gap:8px}
.sample{border-top:1px solid #ddd;margin:.6em 0}img{max-width:100%}"""


def render_html(report: dict) -> str:
    """The self-contained page (no script, no external resource) for ``report``."""
    plots = _plots(report)
    scatter = ""
    if report["scatter"]:
        rows = [
            [_esc(p["model"]), _fmt(p["strict"]), _fmt(p["loose"]), _fmt(p["rse_overall"]), _ci(p["rse_ci"])]
            for p in report["scatter"]
        ]
        scatter = _table(["model", "ICE strict", "ICE loose", "RSE overall", "95% CI"], rows) + plots["scatter"]
    else:
        scatter = "<p>No model appears in both an ICE and an RSE run.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">"
        f"<title>Distillation audit</title><style>{STYLE}</style></head><body>"
        f"<h1>Distillation audit</h1><p>Created {_esc(report['created'])} by lmforge. Model outputs below are "
        "shown as text, escaped.</p>"
        f"<h2>Identity consistency (ICE)</h2>{_ice_html(report, plots)}"
        f"<h2>Response similarity (RSE)</h2>{_rse_html(report, plots)}"
        f"<h2>ICE × RSE</h2>{scatter}</body></html>"
    )


def write_report(run_dirs: list[str | Path], output: str | Path, *, samples: int = 3) -> dict:
    """Write ``output`` (HTML) and its JSON twin (same name, ``.json``); returns the report data."""
    output = Path(output)
    report = build_report(run_dirs, samples=samples)
    page = render_html(report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    write_json(output.with_suffix(".json"), report)
    return report


def screenshot(
    page: str | Path, image: str | Path, *, width: int = 1200, height: int = 2400, timeout: float = 120
) -> bool:
    """Render ``page`` in headless Chromium and save a PNG; ``False`` when no Chromium is installed."""
    import shutil
    import subprocess

    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        return False
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--window-size={width},{height}",
        f"--screenshot={Path(image).resolve()}",
        Path(page).resolve().as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=timeout)
    return Path(image).is_file()
