"""Demo stage: capital-city questions over bundled Wikipedia summaries, before and after a tiny RoseRAG round.

Questions come from the bundled geography facts ("What is the capital of X?", gold = X's
capitals), passages from the bundled offline Wikipedia summaries, retrieved with BM25 (k = 2).
SmolLM2 is evaluated on 10 questions, then one tiny round (N = 2, rationale ≤ 48 tokens) of
sample → select → ORPO runs on 10 other questions, and the 10 are evaluated again. The scores
are printed whatever they are: with so few pairs the round may change nothing, or hurt.

Toward the stage's 4-minute budget on 2 CPU cores, ORPO trains a LoRA adapter (rank 16, all
linear layers, merged afterwards) for one epoch instead of the full model for two (no optimizer
state for 135M parameters, half the steps); the protocol (the data, N, the turn limits, the
loss and the pair rule) stays as stated. The rest of the stage is prompt prefill.
"""

from __future__ import annotations

import random
import tempfile
import time
import warnings
from pathlib import Path

from rich.console import Console

from lmforge.core.demo import stage
from lmforge.roserag.data import Passage, Question, make_passage

MODEL = "smollm2-135m-instruct"
PASSAGE_CHARS = 400  # the start of each summary: short prompts, and the capital is usually named there
DEMO_QUESTIONS = 10
LORA_RANK = 16


def capital_questions(seed: int = 0) -> tuple[list[Question], list[Passage]]:
    """Capital questions whose answer is in the first lines of the country's summary, and those summaries."""
    from lmforge.core.bundled_data import countries, wikipedia_summaries

    summaries = wikipedia_summaries()
    questions, passages = [], []
    for country in countries():
        if country.name not in summaries:
            continue
        text = summaries[country.name][:PASSAGE_CHARS].rsplit(" ", 1)[0]
        if not any(g in text for g in country.capitals):
            continue
        passage = make_passage(country.name, text)
        passages.append(passage)
        question = f"What is the capital of {country.name}?"
        questions.append(Question(country.code, question, country.capitals, (passage,), (passage.id,)))
    random.Random(seed).shuffle(questions)
    return questions, passages


@stage("rag", "RoseRAG: BM25 (k=2) QA on Wikipedia summaries, before/after a tiny sample→select→ORPO round", order=30)
def rag_stage(console: Console) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers.trainer_callback import PrinterCallback

    from lmforge.core.data import read_records
    from lmforge.core.generation import ResponseCache
    from lmforge.core.generation.local import HFGenerator
    from lmforge.core.models import fingerprint, load_causal_lm, load_tokenizer
    from lmforge.roserag.evaluation import evaluate
    from lmforge.roserag.preference_config import PreferenceConfig
    from lmforge.roserag.preference_trainer import PreferenceTrainer
    from lmforge.roserag.prompting_config import PromptConfig
    from lmforge.roserag.retrieval import build_index
    from lmforge.roserag.sampling import sample
    from lmforge.roserag.sampling_config import SampleConfig
    from lmforge.roserag.selection import select

    questions, corpus = capital_questions()
    train_qs, eval_qs = questions[:DEMO_QUESTIONS], questions[DEMO_QUESTIONS : 2 * DEMO_QUESTIONS]
    index = build_index(corpus)
    train_passages = index.retrieve([q.question for q in train_qs], 2)
    eval_passages = index.retrieve([q.question for q in eval_qs], 2)
    prompt = PromptConfig(max_rationale_tokens=48, max_answer_tokens=16)
    model, tokenizer = load_causal_lm(MODEL), load_tokenizer(MODEL)
    base = HFGenerator(
        model=model, tokenizer=tokenizer, name=fingerprint(MODEL), cache=ResponseCache(), show_progress=False
    )
    start = time.perf_counter()
    before = evaluate(base, eval_qs, eval_passages, prompt)
    console.print(
        f"before: F1 {before['f1']:.3f}  containment {before['acc']:.3f}  ({time.perf_counter() - start:.0f} s)"
    )
    with tempfile.TemporaryDirectory(prefix="lmforge-rag-") as folder:
        work = Path(folder)
        start = time.perf_counter()
        summary = sample(base, train_qs, train_passages, work / "samples.jsonl", SampleConfig(n=2, prompt=prompt))
        stats = select(work / "samples.jsonl", work / "pairs.jsonl", model=model, tokenizer=tokenizer)
        console.print(
            f"sampled {summary.positives_kept}/{summary.positives_sampled} positives and "
            f"{summary.negatives_kept}/{summary.negatives_sampled} negatives kept; {stats['pairs']} pairs "
            f"({time.perf_counter() - start:.0f} s)"
        )
        if not stats["pairs"]:
            console.print("no question had both a right and a wrong trajectory: nothing to train on")
            return
        args = PreferenceConfig(
            output_dir=str(work / "run"),
            num_train_epochs=1,
            per_device_train_batch_size=2,
            learning_rate=2e-4,  # a LoRA rate: a handful of steps on the adapter only
            use_cpu=True,
            bf16=False,
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            seed=0,
        )
        start = time.perf_counter()
        adapter = LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, target_modules="all-linear", task_type="CAUSAL_LM")
        with warnings.catch_warnings():  # transformers deprecates a helper that PEFT still calls
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            trainer = PreferenceTrainer(
                get_peft_model(model, adapter), args, read_records(work / "pairs.jsonl"), tokenizer
            )
            trainer.remove_callback(PrinterCallback)  # the stage prints its own one-line summary
            result = trainer.train()
        model = trainer.model.merge_and_unload()
        console.print(
            f"ORPO (LoRA r={LORA_RANK}, {stats['pairs']} pairs, 1 epoch): loss {result.training_loss:.3f} "
            f"({time.perf_counter() - start:.0f} s)"
        )
    trained = HFGenerator(model=model, tokenizer=tokenizer, name="roserag-demo", cache=None, show_progress=False)
    start = time.perf_counter()
    after = evaluate(trained, eval_qs, eval_passages, prompt)
    console.print(
        f"after:  F1 {after['f1']:.3f}  containment {after['acc']:.3f}  ({time.perf_counter() - start:.0f} s; "
        f"n = {after['n']}, a tiny round)"
    )
