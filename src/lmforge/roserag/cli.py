"""`lmforge rag`: RoseRAG from the command line — index, sample, select, train, eval.

Every stage reads the previous stage's file and writes its own, resumably, so each can be rerun
or swapped (another pair rule needs no resampling; another loss needs no rescoring).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lmforge.core.cli_app import ConfigOption, new_app
from lmforge.core.errors import LmforgeError

app = new_app("RoseRAG: robust RAG for small LMs via self-generated, margin-aware preference pairs.")
console = Console()

QuestionsOpt = Annotated[Path, typer.Option(help="Questions: FlashRAG JSONL, HotpotQA (original/IRCoT), StrategyQA.")]
FormatOpt = Annotated[str, typer.Option(help="Question format: auto, flashrag, hotpotqa, hotpotqa-ircot, strategyqa.")]
IndexOpt = Annotated[Path | None, typer.Option(help="Passage index built by `lmforge rag index`.")]
KOpt = Annotated[int, typer.Option(min=1, help="Passages retrieved per question.")]
DistractorsOpt = Annotated[
    int | None, typer.Option(min=0, help="Given-contexts mode: the question's gold paragraphs + this many distractors.")
]
ProtocolOpt = Annotated[
    str,
    typer.Option(
        help="two_turn (rationale → answer), three_turn (evidence → rationale → answer), single_turn (baseline)."
    ),
]
EvidenceTokensOpt = Annotated[int, typer.Option(min=1, help="New-token limit of the evidence turn (three_turn).")]
RationaleTokensOpt = Annotated[int, typer.Option(min=1, help="New-token limit of the rationale turn.")]
AnswerTokensOpt = Annotated[int, typer.Option(min=1, help="New-token limit of the answer turn.")]
LimitOpt = Annotated[int | None, typer.Option(min=1, help="Use only the first LIMIT questions.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of sampling, distractors and random pairs.")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Generation batch size.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Bypass the response cache.")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="OpenAI-compatible server for an openai:NAME model.")]
KeyEnvOpt = Annotated[str | None, typer.Option(help="Environment variable holding the API key.")]


def _prompt_config(protocol: str, evidence_tokens: int, rationale_tokens: int, answer_tokens: int):
    from lmforge.roserag.prompting_config import PromptConfig

    return PromptConfig(
        protocol=protocol,
        max_evidence_tokens=evidence_tokens,
        max_rationale_tokens=rationale_tokens,
        max_answer_tokens=answer_tokens,
    )


def _passages(questions, index: Path | None, k: int, distractors: int | None, seed: int):
    """Retrieved top-k passages, or the given-contexts mode; exactly one of the two."""
    if (index is None) == (distractors is None):
        raise LmforgeError("choose the passages: --index DIR (retrieval) or --distractors N (given contexts)")
    if index is not None:
        from lmforge.roserag.retrieval import load_index

        return load_index(index).retrieve([q.question for q in questions], k)
    from lmforge.roserag.contexts import given_contexts
    from lmforge.roserag.contexts_config import GivenContextsConfig

    return given_contexts(questions, GivenContextsConfig(n_distractors=distractors, seed=seed))


def _generator(model: str, base_url: str | None, api_key_env: str | None, no_cache: bool, batch_size: int):
    from lmforge.core.generation import ResponseCache, make_generator

    cache = None if no_cache else ResponseCache()
    return make_generator(model, base_url=base_url, api_key_env=api_key_env, cache=cache, batch_size=batch_size)


def _table(title: str, values: dict) -> None:
    table = Table("", "value", title=title)
    for name, value in values.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


@app.command()
def index(
    output: Annotated[Path, typer.Option(help="Directory to write the index to.")],
    corpus: Annotated[Path | None, typer.Option(help="Corpus JSONL {id, title, contents}.")] = None,
    questions: Annotated[Path | None, typer.Option(help="Or: pool the paragraphs of these questions.")] = None,
    retriever: Annotated[str, typer.Option(help="bm25 or dense.")] = "bm25",
    model: Annotated[str, typer.Option(help="Dense encoder (bundled name or directory).")] = "minilm-l6",
    search: Annotated[str, typer.Option(help="Exact dense search in numpy or faiss.")] = "numpy",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index.")] = False,
    config: ConfigOption = None,
) -> None:
    """Index a corpus (or a dataset's own paragraphs) for top-k retrieval."""
    from lmforge.roserag.data import corpus_from_questions, read_corpus, read_questions
    from lmforge.roserag.retrieval import build_index
    from lmforge.roserag.retrieval_config import RetrieverConfig

    if (corpus is None) == (questions is None):
        raise LmforgeError("give exactly one of --corpus FILE or --questions FILE")
    passages = read_corpus(corpus) if corpus is not None else corpus_from_questions(read_questions(questions))
    built = build_index(passages, RetrieverConfig(kind=retriever, model=model, search=search))
    built.save(output, overwrite=overwrite)
    console.print(f"indexed {len(passages)} passages with {retriever} into {output}")


@app.command()
def sample(
    model: Annotated[str, typer.Option(help="The model to improve (bundled name, directory, GGUF, openai:NAME).")],
    questions: QuestionsOpt,
    output: Annotated[Path, typer.Option(help="Samples JSONL; rerun the same command to resume.")],
    index: IndexOpt = None,
    k: KOpt = 5,
    distractors: DistractorsOpt = None,
    n: Annotated[int, typer.Option(min=1, help="Positive and negative trajectories per question.")] = 8,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature of the reasoning turns.")] = 0.8,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 0.95,
    accept: Annotated[str, typer.Option(help="Correctness test: em or contains.")] = "em",
    protocol: ProtocolOpt = "two_turn",
    evidence_tokens: EvidenceTokensOpt = 64,
    rationale_tokens: RationaleTokensOpt = 64,
    answer_tokens: AnswerTokensOpt = 16,
    format: FormatOpt = "auto",
    limit: LimitOpt = None,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = 16,
    no_cache: NoCacheOpt = False,
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = None,
    config: ConfigOption = None,
) -> None:
    """Stage A: sample positive (answer-shown rationale) and negative (inference) trajectories."""
    from lmforge.roserag.data import read_questions
    from lmforge.roserag.sampling import sample as run_sample
    from lmforge.roserag.sampling_config import SampleConfig

    qs = read_questions(questions, format, limit=limit)
    settings = SampleConfig(
        n=n,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        accept=accept,
        prompt=_prompt_config(protocol, evidence_tokens, rationale_tokens, answer_tokens),
    )
    passages = _passages(qs, index, k, distractors, seed)
    summary = run_sample(_generator(model, base_url, api_key_env, no_cache, batch_size), qs, passages, output, settings)
    _table(f"samples: {output}", vars(summary) | {"drop_rate": summary.drop_rate})


@app.command()
def select(
    samples: Annotated[Path, typer.Argument(help="Samples JSONL written by `lmforge rag sample`.")],
    output: Annotated[Path, typer.Option(help="Pairs JSONL (TRL conversational layout).")],
    rule: Annotated[str, typer.Option(help="minpos-maxneg, maxpos-minneg or random.")] = "minpos-maxneg",
    model: Annotated[str | None, typer.Option(help="The frozen starting model that sampled (scores).")] = None,
    score: Annotated[str, typer.Option(help="mean (length-normalised) or sum log-probability.")] = "mean",
    seed: SeedOpt = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Scoring batch size.")] = 8,
    config: ConfigOption = None,
) -> None:
    """Stage B: score candidates with the starting model and keep one contrastive pair per question."""
    from lmforge.roserag.selection import select as run_select
    from lmforge.roserag.selection_config import SelectConfig

    settings = SelectConfig(rule=rule, score=score, seed=seed, batch_size=batch_size)
    lm = tokenizer = None
    if model is not None:
        from lmforge.core.models import load_causal_lm, load_tokenizer

        lm, tokenizer = load_causal_lm(model), load_tokenizer(model)
    elif settings.needs_scores:
        raise LmforgeError(f"rule {rule} ranks candidates by the starting model's scores: pass --model")
    _table(f"pairs: {output}", run_select(samples, output, settings, model=lm, tokenizer=tokenizer))


@app.command()
def train(
    model: Annotated[str, typer.Option(help="The starting model (the one that sampled).")],
    pairs: Annotated[Path, typer.Option(help="Pairs JSONL written by `lmforge rag select`.")],
    output: Annotated[Path, typer.Option(help="Directory for the trained model; rerun to resume.")],
    loss: Annotated[str, typer.Option(help="orpo, dpo, simpo or sft.")] = "orpo",
    beta: Annotated[float, typer.Option(help="ORPO λ / DPO β / SimPO β (use ~2 for SimPO).")] = 0.1,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 5e-6,
    epochs: Annotated[float, typer.Option(help="Epochs.")] = 2.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Pairs per device step.")] = 2,
    grad_accum: Annotated[int, typer.Option(min=1, help="Gradient accumulation steps.")] = 16,
    max_length: Annotated[int | None, typer.Option(help="Refuse pairs longer than this (never truncates).")] = None,
    lora: Annotated[bool, typer.Option(help="Train a LoRA adapter and merge it.")] = False,
    seed: SeedOpt = 0,
    cpu: Annotated[bool, typer.Option(help="Train on CPU even when an accelerator is present.")] = False,
    config: ConfigOption = None,
) -> None:
    """Stage C: margin-aware preference optimisation (ORPO on response tokens) of the starting model."""
    import torch

    from lmforge.roserag.preference_config import PreferenceConfig
    from lmforge.roserag.training import train_preferences

    use_cpu = cpu or not torch.cuda.is_available()
    args = PreferenceConfig(
        output_dir=str(output / "checkpoints"),
        loss=loss,
        beta=beta,
        learning_rate=lr,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        max_length=max_length,
        seed=seed,
        use_cpu=use_cpu,
        bf16=not use_cpu and torch.cuda.is_bf16_supported(),
        save_strategy="epoch",
        save_total_limit=1,
        logging_steps=5,
    )
    _table(f"trained: {output}", train_preferences(model, pairs, output, args, lora=lora))


@app.command("eval")
def evaluate_cmd(
    model: Annotated[str, typer.Argument(help="Trained model directory (or any model spec).")],
    questions: QuestionsOpt,
    output: Annotated[Path, typer.Option(help="Directory for predictions.jsonl and summary.json.")],
    index: IndexOpt = None,
    k: KOpt = 5,
    distractors: DistractorsOpt = None,
    protocol: ProtocolOpt = "two_turn",
    evidence_tokens: EvidenceTokensOpt = 64,
    rationale_tokens: RationaleTokensOpt = 64,
    answer_tokens: AnswerTokensOpt = 16,
    format: FormatOpt = "auto",
    limit: LimitOpt = None,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = 16,
    no_cache: NoCacheOpt = False,
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = None,
    config: ConfigOption = None,
) -> None:
    """Greedy multi-turn evaluation: EM / F1 / containment with 95% bootstrap intervals."""
    from lmforge.core.data import write_json
    from lmforge.roserag.data import read_questions
    from lmforge.roserag.evaluation import evaluate

    qs = read_questions(questions, format, limit=limit)
    passages = _passages(qs, index, k, distractors, seed)
    prompt = _prompt_config(protocol, evidence_tokens, rationale_tokens, answer_tokens)
    generator = _generator(model, base_url, api_key_env, no_cache, batch_size)
    summary = evaluate(generator, qs, passages, prompt, output=output / "predictions.jsonl")
    summary |= {"model": model, "questions": str(questions), "protocol": prompt.to_dict()}
    summary |= {"passages": {"index": str(index), "k": k} if index else {"distractors": distractors, "seed": seed}}
    write_json(output / "summary.json", summary)
    _table(f"eval: {output}", {m: summary[m] for m in ("n", "em", "f1", "acc") if m in summary})


@app.command("robustness")
def robustness_cmd(
    model: Annotated[str, typer.Argument(help="Trained model directory (or any model spec).")],
    questions: QuestionsOpt,
    output: Annotated[Path, typer.Option(help="Directory for robustness.json, robustness.png and predictions.")],
    noise: Annotated[
        str, typer.Option(help="Comma-separated numbers of distractors added to the gold ones.")
    ] = "0,1,2,3,5",
    k: Annotated[str, typer.Option(help="Comma-separated numbers of passages retrieved (needs --index).")] = "",
    index: IndexOpt = None,
    protocol: ProtocolOpt = "two_turn",
    evidence_tokens: EvidenceTokensOpt = 64,
    rationale_tokens: RationaleTokensOpt = 64,
    answer_tokens: AnswerTokensOpt = 16,
    format: FormatOpt = "auto",
    limit: LimitOpt = None,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = 16,
    no_cache: NoCacheOpt = False,
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = None,
    config: ConfigOption = None,
) -> None:
    """Robustness curves: F1 / EM / containment against distractors and against k (PNG + JSON)."""
    from lmforge.roserag.data import read_questions
    from lmforge.roserag.retrieval import load_index
    from lmforge.roserag.robustness import robustness

    qs = read_questions(questions, format, limit=limit)
    result = robustness(
        _generator(model, base_url, api_key_env, no_cache, batch_size),
        qs,
        output,
        _prompt_config(protocol, evidence_tokens, rationale_tokens, answer_tokens),
        noise=_ints(noise, "--noise"),
        ks=_ints(k, "--k"),
        retriever=load_index(index) if index is not None else None,
        seed=seed,
    )
    points = {f"{p['distractors']} distractors: f1": p["f1"] for p in result["curves"]["noise"]}
    points |= {f"k={p['k']}: f1": p["f1"] for p in result["curves"]["k"]}
    _table(f"robustness: {output}", points | {"f1 slope per distractor": result["f1_slope_per_distractor"]})


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise LmforgeError(f"{flag} takes comma-separated whole numbers, got {text!r}") from None
    if any(v < 0 for v in values):
        raise LmforgeError(f"{flag} values must be >= 0, got {text!r}")
    return values
