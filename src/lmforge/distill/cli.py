"""``lmforge distill``: identity-consistency audits (ICE) and rescoring of the official data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lmforge.core.cli_app import ConfigOption, new_app
from lmforge.distill.config import NEUTRAL_SYSTEM_PROMPT

app = new_app(
    "Distillation audit: identity consistency (ICE), response similarity (RSE), the audit report, and rescoring "
    "of the official ICE data."
)
console = Console()

DirArg = Annotated[Path, typer.Argument(help="the official 'identity_jailbreak/data' folder (or a folder above it)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _ci(row: dict, score: str) -> str:
    from lmforge.distill.audit import fmt

    ci = row.get(f"{score}_ci")
    return f"{fmt(ci[0])}–{fmt(ci[1])}" if ci else "–"


@app.command()
def rescore(
    data: DirArg,
    as_json: JsonOpt = False,
    n: Annotated[int | None, typer.Option(min=1, help="denominator (default: the raw run's size, else 1000)")] = None,
    ci: Annotated[bool, typer.Option(help="template-bootstrap 95% intervals where a raw run exists")] = True,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
) -> None:
    """Recompute loose / strict / hard per model from the official files."""
    from lmforge.distill.audit import fmt
    from lmforge.distill.audit import rescore as run_rescore

    rows = run_rescore(data, n=n, ci=ci, seed=seed)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"ICE scores (over all responses) — {escape(str(data))}")
    for column in ("model", "loose", "strict", "hard", "hits L/S/H", "n", "loose 95% CI", "note"):
        table.add_column(
            column, no_wrap=column != "note", justify="right" if column not in ("model", "note") else "left"
        )
    for r in rows:
        hits = "/".join("–" if r[k] is None else str(r[k]) for k in ("loose_hits", "strict_hits", "hard_hits"))
        cells = (r["model"], fmt(r["loose"]), fmt(r["strict"]), fmt(r["hard"]), hits, str(r["n"]), _ci(r, "loose"))
        table.add_row(*(escape(c) for c in cells), escape(r["note"]))
    console.print(table)


@app.command()
def agreement(
    data: DirArg,
    models: Annotated[
        str | None, typer.Option(help="comma-separated models (default: every raw run), e.g. deepseek-chat,Phi4")
    ] = None,
    mode: Annotated[str, typer.Option(help="offline judge mode: paper (as the official judge labels) or claims")] = (
        "paper"
    ),
    judge: Annotated[str, typer.Option(help="offline, or llm:MODEL (asked the paper's strict question)")] = "offline",
    judge_base_url: Annotated[str | None, typer.Option(help="the LLM judge's OpenAI-compatible server")] = None,
    judge_api_key_env: Annotated[str | None, typer.Option(help="environment variable holding its API key")] = None,
    facts: Annotated[list[Path] | None, typer.Option(help="extra identity-facts YAML (repeatable)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Agreement (accuracy, precision, recall, Cohen's κ) of a judge with the official loose and strict labels."""
    from lmforge.distill.audit import fmt, judge_agreement
    from lmforge.distill.facts import load_facts
    from lmforge.distill.judges import make_judge

    book = load_facts(*(facts or ()))
    judge_obj = make_judge(
        judge, book, mode=mode, base_url=judge_base_url, api_key_env=judge_api_key_env, strict_prompt="paper"
    )
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    report = judge_agreement(data, judge_obj, models=names, book=book)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{escape(judge_obj.name)} vs official labels")
    for column in (
        "model",
        "loose κ",
        "loose P",
        "loose R",
        "strict κ",
        "strict P",
        "strict R",
        "strict acc",
        "unparsed",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    entries = [*report["models"].items(), ("pooled", report["pooled"])]
    for name, entry in entries:
        loose, strict = entry["loose"] or {}, entry["strict"] or {}
        table.add_row(
            escape(name),
            *(fmt(loose.get(k)) for k in ("kappa", "precision", "recall")),
            *(fmt(strict.get(k)) for k in ("kappa", "precision", "recall", "accuracy")),
            str(entry.get("unparsed", sum(e["unparsed"] for e in report["models"].values()))),
        )
    console.print(table)
    if any(e["strict"] is None for e in report["models"].values()):
        console.print("– : no strict judgement in the official files for that model (left out of the pooled strict)")


def _opt(help: str, *names: str):
    return typer.Option(*names, help=help)


@app.command()
def ice(
    target: Annotated[str | None, _opt("model: bundled name, local dir, .gguf, hub id, or openai:NAME")] = None,
    output: Annotated[Path | None, _opt("run folder (rerun the same command to resume)", "--output", "-o")] = None,
    config: Annotated[Path | None, _opt("YAML of IceConfig settings; flags override it")] = None,
    fact: Annotated[str | None, _opt("the target's identity fact, e.g. 'I am X, made by Y.'")] = None,
    family: Annotated[str | None, _opt("family key of the facts YAML (default: from the model name)")] = None,
    facts: Annotated[list[Path] | None, _opt("extra identity-facts YAML (repeatable)")] = None,
    helper: Annotated[str | None, _opt("mutation model; without it the seed templates are used as they are")] = None,
    judge: Annotated[str | None, _opt("offline, or llm:MODEL (e.g. llm:openai:gpt-4o-mini)")] = None,
    judge_mode: Annotated[str | None, _opt("offline judge: claims (default) or paper")] = None,
    strict_prompt: Annotated[str | None, _opt("LLM judge strict prompt: general (default) or paper")] = None,
    budget: Annotated[int | None, _opt("target queries (templates × questions; default 1000)")] = None,
    max_new_tokens: Annotated[int | None, _opt("target response length (default 256; the paper used 2048)")] = None,
    questions: Annotated[Path | None, _opt("question CSV/JSONL (default: the shipped bank)")] = None,
    n_questions: Annotated[int | None, _opt("first N questions per language")] = None,
    templates: Annotated[Path | None, _opt("seed templates: ours (default), GPTFuzzer seed_template.json")] = None,
    n_seeds: Annotated[int | None, _opt("seeds drawn as tree roots")] = None,
    system_prompt: Annotated[str | None, _opt("system prompt sent to the target (default: neutral)")] = None,
    plain_prompt: Annotated[bool | None, _opt("base model: plain text, no chat template", "--plain-prompt")] = None,
    mode: Annotated[str | None, _opt("fixed (default) or paper (reproduce the official bugs)")] = None,
    hard_rule: Annotated[str | None, _opt("hard drops templates naming openai/gpt (paper) or any vendor")] = None,
    seed: Annotated[int | None, _opt("run seed (every random choice derives from it)")] = None,
    base_url: Annotated[str | None, _opt("target's OpenAI-compatible server")] = None,
    api_key_env: Annotated[str | None, _opt("environment variable holding the target's API key")] = None,
    helper_base_url: Annotated[str | None, _opt("helper's OpenAI-compatible server")] = None,
    helper_api_key_env: Annotated[str | None, _opt("environment variable holding the helper's API key")] = None,
    judge_base_url: Annotated[str | None, _opt("judge's OpenAI-compatible server")] = None,
    judge_api_key_env: Annotated[str | None, _opt("environment variable holding the judge's API key")] = None,
    batch_size: Annotated[int | None, _opt("local batch size")] = None,
    no_cache: Annotated[bool, _opt("bypass the response cache", "--no-cache")] = False,
) -> None:
    """Audit a model: fuzz identity-probing templates, judge every response, print loose/strict/hard with CIs."""
    given = dict(locals())  # the flags only: taken before anything else is defined here
    from lmforge.core.errors import LmforgeError
    from lmforge.distill.config import IceConfig
    from lmforge.distill.ice import run_ice

    overrides = {k: v for k, v in given.items() if k not in ("config", "no_cache") and v is not None}
    if facts:
        overrides["facts"] = tuple(facts)
    if no_cache:
        overrides["cache"] = False
    if config is not None:
        settings = IceConfig.from_yaml(config, **overrides)
    elif target is None or output is None:
        raise LmforgeError("pass --target and --output (or --config run.yaml)")
    else:
        settings = IceConfig(**overrides)

    def progress(done: int, total: int, row: dict) -> None:
        refused = " (rewrite refused: parent kept)" if row.get("refused") else ""
        console.print(f"[dim]template {done}/{total}: {escape(str(row.get('operator')))}{refused}[/dim]")

    summary = run_ice(settings, on_iteration=progress)
    print_summary(summary, settings.output)


def print_summary(summary: dict, output: Path | None = None, out: Console = console) -> None:
    """The three scores with their template-bootstrap intervals, and the run's bookkeeping."""
    from lmforge.distill.audit import fmt

    table = Table(title=f"ICE — {escape(str(summary.get('target', {}).get('model', '')))}")
    for column in ("score", "value", "95% CI (templates)", "hits"):
        table.add_column(column, justify="left" if column == "score" else "right")
    for score in ("loose", "strict", "hard"):
        lo, hi = summary[f"{score}_ci"]
        table.add_row(score, fmt(summary[score]), f"{fmt(lo)}–{fmt(hi)}", str(summary[f"{score}_hits"]))
    out.print(table)
    vendors = ", ".join(f"{k} {v}" for k, v in summary.get("strict_vendors", {}).items()) or "none"
    out.print(
        f"{summary['n_responses']} responses over {summary['n_templates']} templates; unparsed judgements "
        f"{summary['unparsed']}; refused rewrites {summary['refused_rewrites']}; strict hits point to: "
        f"{escape(vendors)}"
    )
    if output is not None:
        out.print(f"results in {escape(str(output))} (responses.jsonl, templates.jsonl, summary.json)")


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="first ICE run folder")],
    run_b: Annotated[Path, typer.Argument(help="second ICE run folder")],
    score: Annotated[str, typer.Option(help="loose, strict or hard")] = "loose",
    n_perm: Annotated[int, typer.Option(min=100, help="permutations")] = 10000,
    seed: int = 0,
) -> None:
    """Compare two runs' scores: difference and a template-level permutation p-value."""
    from lmforge.core.errors import LmforgeError
    from lmforge.distill.ice import judged_rows, load_run, template_texts
    from lmforge.distill.scores import SCORES
    from lmforge.distill.scores import compare as compare_runs

    if score not in SCORES:
        raise LmforgeError(f"--score must be one of: {', '.join(SCORES)}")
    rows_a, rows_b = judged_rows(load_run(run_a)), judged_rows(load_run(run_b))
    same = template_texts(run_a) == template_texts(run_b)
    result = compare_runs(rows_a, rows_b, score, n_perm=n_perm, seed=seed, paired=same)
    console.print(
        f"{score}: A {result['a']:.3f}, B {result['b']:.3f}, difference {result['difference']:+.3f}, "
        f"p = {result['p_value']:.4f} ({result['test']})"
    )


def _split(value: str | None) -> tuple[str, ...]:
    """A comma-separated flag value as names; a YAML list in a --config file reaches us as "['a', 'b']"."""
    text = (value or "").strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return tuple(v.strip().strip("'\"") for v in text.split(",") if v.strip().strip("'\""))


@app.command()
def rse(
    reference: Annotated[str, _opt("reference model spec, or file:PATH of answers (Arena-Hard model_answer JSONL)")],
    targets: Annotated[str, _opt("comma-separated target model specs")],
    prompts: Annotated[
        str,
        _opt("comma-separated prompt sets KIND:PATH (arenahard, sharegpt, sharegpt-history, numina, jsonl) or demo"),
    ],
    output: Annotated[Path, _opt("run folder (rerun the same command to resume)", "--output", "-o")],
    judge: Annotated[str, _opt("offline, or llm:MODEL (offline scores are computed as well)")] = "offline",
    n_prompts: Annotated[int | None, _opt("prompts sampled per set (default: all)")] = None,
    max_new_tokens: Annotated[int, _opt("response length of reference and targets")] = 256,
    temperature: Annotated[float, _opt("decoding temperature (0 = greedy)")] = 0.0,
    system_prompt: Annotated[str, _opt("system prompt sent to every model ('' for none)")] = NEUTRAL_SYSTEM_PROMPT,
    noise_model: Annotated[str | None, _opt("model sampled twice per prompt for calibration (default: reference)")] = (
        None
    ),
    noise_temperature: Annotated[float, _opt("temperature of the two calibration samples")] = 0.7,
    encoder: Annotated[str, _opt("sentence encoder for content similarity ('none': ROUGE-L only)")] = "minilm-l6",
    seed: Annotated[int, _opt("sampling, generation and bootstrap seed")] = 0,
    base_url: Annotated[str | None, _opt("OpenAI-compatible server of openai: reference/targets")] = None,
    api_key_env: Annotated[str | None, _opt("environment variable holding that server's API key")] = None,
    judge_base_url: Annotated[str | None, _opt("judge's OpenAI-compatible server")] = None,
    judge_api_key_env: Annotated[str | None, _opt("environment variable holding the judge's API key")] = None,
    batch_size: Annotated[int, _opt("local batch size")] = 16,
    no_cache: Annotated[bool, _opt("bypass the response cache", "--no-cache")] = False,
    config: ConfigOption = None,
) -> None:
    """Response similarity (style, structure, content; overall 1–5) of targets to a reference, per dataset."""
    from lmforge.distill.rse.run import RseConfig, run_rse

    settings = RseConfig(
        reference=reference,
        targets=_split(targets),
        prompts=_split(prompts),
        output=output,
        judge=judge,
        n_prompts=n_prompts,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        system_prompt=system_prompt or None,
        noise_model=noise_model,
        noise_temperature=noise_temperature,
        encoder=None if encoder == "none" else encoder,
        seed=seed,
        base_url=base_url,
        api_key_env=api_key_env,
        judge_base_url=judge_base_url,
        judge_api_key_env=judge_api_key_env,
        batch_size=batch_size,
        cache=not no_cache,
    )
    summary = run_rse(settings, progress=lambda m: console.print(f"[dim]{escape(m)}[/dim]"))
    print_rse(summary)


def print_rse(summary: dict, out: Console = console) -> None:
    """Per model: each dataset's overall and the unweighted Avg with its interval, then the Avg per aspect."""
    from lmforge.distill.audit import fmt

    for source in ("offline", "llm"):
        block = summary.get(source)
        if not block:
            continue
        title = "offline similarity" if source == "offline" else f"LLM judge {summary.get('judge')}"
        table = Table(title=f"RSE vs {escape(summary['reference'])} — {escape(title)}")
        for column in ("model", *summary["datasets"], "Avg overall", "95% CI", "style", "structure", "content"):
            table.add_column(escape(column), justify="left" if column == "model" else "right", overflow="fold")
        for model, entry in block.items():
            avg = entry["avg"]
            table.add_row(
                escape(model),
                *(fmt(entry["datasets"].get(d, {}).get("overall", {}).get("mean")) for d in summary["datasets"]),
                fmt(avg["overall"]["mean"]),
                _ci({"overall_ci": avg["overall"]["ci"]}, "overall"),
                *(fmt(avg[a]["mean"]) for a in ("style", "structure", "content")),
            )
        out.print(table)
    absent = ", ".join(summary.get("datasets_absent") or []) or "none"
    out.print(
        f"Avg = unweighted mean over the datasets present ({escape(', '.join(summary['datasets']))}; absent: "
        f"{escape(absent)}). Noise floor row: two samples of {escape(str(summary['noise_model']))}."
    )
    cal = summary["calibration"]
    levels = ", ".join(f"{m} {cal['low'][m]:.3f}→{cal['high'][m]:.3f}" for m in cal["low"])
    out.print(f"calibration (raw shuffled → two-sample level): {levels}" + "".join(f"; {n}" for n in cal["notes"]))
    if summary.get("unparsed"):
        out.print(f"unparsed judge replies: {escape(json.dumps(summary['unparsed']))}")


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="ICE and RSE run folders")],
    output: Annotated[Path, _opt("HTML file (its JSON twin is written beside it)", "--output", "-o")] = Path(
        "audit.html"
    ),
    samples: Annotated[int, _opt("responses shown per model", "--samples")] = 3,
) -> None:
    """One self-contained HTML audit report (plus JSON) putting ICE and RSE side by side."""
    from lmforge.distill.report import write_report

    data = write_report(runs, output, samples=samples)
    console.print(
        f"{len(data['ice'])} ICE and {len(data['rse'])} RSE runs → {escape(str(output))} "
        f"and {escape(str(output.with_suffix('.json')))}"
    )
