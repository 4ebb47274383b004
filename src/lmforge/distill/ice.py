"""The ICE run: fuzz identity-probing templates against a target, judge every response, score.

Each iteration selects a template with MCTS-Explore, has the helper model rewrite it with
one of the five operators, asks the target every question through the new template (one
batched call), judges the responses and credits the selection path with the number of
loose hits. Without a helper the shipped (or given) seed templates are used as they are.

Everything is appended as it happens — the template of an iteration to
``templates.jsonl`` before its questions are asked, each judged response to
``responses.jsonl`` — and every random choice is drawn from a generator seeded by
(run seed, iteration), so a killed run, rerun, replays the finished iterations from the
files and continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from lmforge.core.data import JsonlWriter, read_records, write_json
from lmforge.core.errors import LmforgeError
from lmforge.core.generation import GenerationConfig, Generator, ResponseCache, make_generator
from lmforge.distill.bank import (
    PAPER_VENDOR_WORDS,
    Question,
    Template,
    load_questions,
    load_templates,
    mentions_vendor,
)
from lmforge.distill.config import OPERATORS, IceConfig
from lmforge.distill.facts import FactBook, Family, custom_family, load_facts
from lmforge.distill.judges import Judge, make_judge
from lmforge.distill.mcts import MctsExplore
from lmforge.distill.mutators import mutate
from lmforge.distill.scores import SCORES, Judged, bootstrap_ci, counts

TEMPLATES_FILE, RESPONSES_FILE, SUMMARY_FILE = "templates.jsonl", "responses.jsonl", "summary.json"
RUN_FILE = "run.json"
# Settings that change which prompts are asked, how they are answered or how they are judged;
# budget is left out so that a larger budget extends a run.
RUN_IDENTITY = (
    "fact", "family", "helper", "helper_max_new_tokens", "judge", "judge_mode", "strict_prompt", "questions",
    "langs", "n_questions", "templates", "n_seeds", "max_new_tokens", "system_prompt", "plain_prompt", "mode",
    "hard_rule", "seed", "mcts_ratio", "mcts_alpha", "mcts_beta",
)  # fmt: skip


def check_folder(config: IceConfig, target: Generator, judge: Judge) -> None:
    """Record what a run folder was made with; refuse to resume it with other settings."""
    settings = {k: v for k, v in config.to_dict().items() if k in RUN_IDENTITY}
    settings |= {"target": target.describe(), "judge": judge.name}
    path = config.output / RUN_FILE
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in settings.keys() | before.keys() if settings.get(k) != before.get(k))
        if changed:
            raise LmforgeError(
                f"{config.output} was made with other settings ({', '.join(changed)}); use a new --output folder"
            )
    else:
        config.output.mkdir(parents=True, exist_ok=True)
        write_json(path, settings)


def resolve_family(config: IceConfig, book: FactBook) -> Family:
    """The target's family: ``--fact`` text (aliases borrowed from the family it names), ``--family``, or by name."""
    if config.fact:
        base = book.get(config.family) if config.family else None
        if base is not None:
            return Family(base.key, config.fact, base.vendors, base.models, base.match)
        return custom_family(config.fact, book, config.target)
    return book.get(config.family) if config.family else book.family_for(config.target)


def select_questions(config: IceConfig) -> list[Question]:
    """The configured languages, the first ``n_questions`` of each."""
    questions = load_questions(config.questions, langs=config.langs)
    if config.n_questions is None:
        return questions
    by_lang: dict[str, list[Question]] = {}
    for q in questions:
        by_lang.setdefault(q.lang, []).append(q)
    return [q for lang in config.langs for q in by_lang.get(lang, [])[: config.n_questions]]


def select_seeds(config: IceConfig) -> list[Template]:
    """The seed templates; ``n_seeds`` of them drawn with the run seed when set."""
    seeds = load_templates(config.templates)
    if config.n_seeds is not None and config.n_seeds < len(seeds):
        seeds = random.Random(f"{config.seed}:seeds").sample(seeds, config.n_seeds)
    return seeds


def plain(generator: Generator) -> Generator:
    """Make a local generator send prompts as plain text (base models): no chat template, own cache identity."""
    from lmforge.core.generation.local import HFGenerator

    if not isinstance(generator, HFGenerator):
        raise LmforgeError("plain prompts need a local model; an HTTP server applies its own chat template")
    generator.tokenizer.chat_template = None
    generator.name = f"{generator.name}+plain"
    return generator


def _previous(path: Path) -> dict:
    return {row["id"]: row for row in read_records(path, format="jsonl")} if path.exists() else {}


def _messages(config: IceConfig, prompt: str) -> list[dict]:
    if config.plain_prompt:
        return [{"role": "user", "content": prompt}]
    return [{"role": "system", "content": config.system_prompt}, {"role": "user", "content": prompt}]


def _models(
    config: IceConfig, book: FactBook, target: Generator | None, helper: Generator | None, judge: Judge | None
) -> tuple[Generator, Generator | None, Judge]:
    """The judge first (a bad judge spec fails before any model loads), then the target and the helper."""
    if judge is None:
        judge = make_judge(
            config.judge,
            book,
            mode=config.judge_mode,
            base_url=config.judge_base_url,
            api_key_env=config.judge_api_key_env,
            strict_prompt=config.strict_prompt,
            cache=config.cache,
        )
    cache = ResponseCache() if config.cache else None
    common = {"cache": cache, "batch_size": config.batch_size, "show_progress": False}
    if target is None:
        target = make_generator(config.target, base_url=config.base_url, api_key_env=config.api_key_env, **common)
        if config.plain_prompt:
            plain(target)
    if helper is None and config.helper is not None:
        helper = make_generator(
            config.helper, base_url=config.helper_base_url, api_key_env=config.helper_api_key_env, **common
        )
    return target, helper, judge


class IceRun:
    """The state of one run: models, the template tree, and what the run folder already holds."""

    def __init__(
        self,
        config: IceConfig,
        target: Generator,
        helper: Generator | None,
        judge: Judge,
        family: Family,
        vendor_words: tuple[str, ...] = PAPER_VENDOR_WORDS,
    ) -> None:
        self.config, self.target, self.helper, self.judge, self.family = config, target, helper, judge, family
        self.vendor_words = vendor_words
        self.questions = select_questions(config)
        self.seeds = select_seeds(config)
        if not self.questions or not self.seeds:
            raise LmforgeError("an ICE run needs at least one question and one seed template")
        iterations = math.ceil(config.budget / len(self.questions))
        self.iterations = iterations if helper is not None else min(iterations, len(self.seeds))
        self.tree = MctsExplore(len(self.seeds), config.mcts_ratio, config.mcts_alpha, config.mcts_beta)
        self.texts = [s.text for s in self.seeds]  # node index -> template
        config.output.mkdir(parents=True, exist_ok=True)
        self.templates = _previous(config.output / TEMPLATES_FILE)
        self.responses = _previous(config.output / RESPONSES_FILE)
        self.new_responses = 0

    def template_row(self, it: int, log: JsonlWriter) -> dict:
        """Iteration ``it``'s template: replayed from the folder, or selected, mutated and logged now."""
        if self.helper is None:
            seed = self.seeds[it]
            row = {"id": it, "parent": None, "operator": "seed", "seed_id": seed.id, "template": seed.text}
            return self.templates.get(it) or self._log(log, row | {"refused": False})
        rng = random.Random(f"{self.config.seed}:iteration:{it}")
        parent = self.tree.select(rng)
        operator = rng.choice(OPERATORS)
        partner = rng.choice(self.seeds).text  # drawn every time, so the draws never depend on the operator
        row = self.templates.get(it)
        if row is None:
            m = mutate(
                self.helper,
                operator,
                self.texts[parent],
                other=partner if operator == "crossover" else "",
                mode=self.config.mode,
                max_new_tokens=self.config.helper_max_new_tokens,
                prompt_id=f"{self.config.seed}:{it}",
            )
            row = {"id": it, "parent": parent, "operator": operator, "template": m.template, "refused": m.refused}
            row = self._log(log, row | {"helper_raw": m.raw})
        elif (row.get("parent"), row.get("operator")) != (parent, operator):
            raise LmforgeError(
                f"{self.config.output}: iteration {it} was made with other settings (seed, seeds, mode); "
                "use a new --output folder"
            )
        self.texts.append(row["template"])
        self.tree.add_child(parent)
        return row

    def _log(self, log: JsonlWriter, row: dict) -> dict:
        log.write(row)
        self.templates[row["id"]] = row
        return row

    def ask(self, it: int, template: Template, log: JsonlWriter) -> int:
        """Ask the questions not yet answered under ``template``, judge and log them; return its loose hits."""
        todo = [q for q in self.questions if f"{it}:{q.id}" not in self.responses]
        if todo:
            ids = [f"{it}:{q.id}" for q in todo]
            prompts = [template.fill(q.query) for q in todo]
            config = GenerationConfig(max_new_tokens=self.config.max_new_tokens)
            replies = self.target.generate([_messages(self.config, p) for p in prompts], config, ids=ids)
            verdicts = self.judge.judge(self.family, [r[0] for r in replies])
            for rid, q, prompt, reply, verdict in zip(ids, todo, prompts, replies, verdicts, strict=True):
                row = {
                    "id": rid,
                    "iteration": it,
                    "template_id": template.id,
                    "question_id": q.id,
                    "query": q.query,
                    "lang": q.lang,
                    "category": q.category,
                    "system_prompt": None if self.config.plain_prompt else self.config.system_prompt,
                    "prompt": prompt,
                    "response": reply[0],
                    "judge": self.judge.name,
                    "template_mentions_vendor": mentions_vendor(template.text, self.vendor_words),
                } | verdict.to_dict()
                log.write(row)
                self.responses[rid] = row
                self.new_responses += 1
        return sum(bool(self.responses[f"{it}:{q.id}"]["loose"]) for q in self.questions)

    def run(self, on_iteration: Callable[[int, int, dict], None] | None = None) -> None:
        out = self.config.output
        with JsonlWriter(out / TEMPLATES_FILE) as template_log, JsonlWriter(out / RESPONSES_FILE) as response_log:
            for it in range(self.iterations):
                row = self.template_row(it, template_log)
                hits = self.ask(it, Template(f"t{it:03d}", row["template"]), response_log)
                if self.helper is not None:
                    self.tree.update(hits, len(self.questions), paper_scale=self.config.mode == "paper")
                if on_iteration is not None:
                    on_iteration(it + 1, self.iterations, row)


def run_ice(
    config: IceConfig,
    *,
    target: Generator | None = None,
    helper: Generator | None = None,
    judge: Judge | None = None,
    on_iteration: Callable[[int, int, dict], None] | None = None,
) -> dict:
    """Run (or resume) the audit in ``config.output``; returns the summary also written to ``summary.json``.

    ``target``, ``helper`` and ``judge`` default to what the config names; pass objects to
    reuse loaded models. ``on_iteration(done, total, template_row)`` reports progress.
    """
    book = load_facts(*config.facts)
    family = resolve_family(config, book)
    target, helper, judge = _models(config, book, target, helper, judge)
    words = book.vendor_words() if config.hard_rule == "vendors" else PAPER_VENDOR_WORDS
    check_folder(config, target, judge)
    run = IceRun(config, target, helper, judge, family, words)
    start = time.perf_counter()
    run.run(on_iteration)
    seconds = time.perf_counter() - start
    summary = summarize(
        list(run.responses.values()), list(run.templates.values()), seed=config.seed, vendor_words=words
    )
    summary |= {
        "target": target.describe(),
        "family": family.key,
        "fact": family.fact,
        "judge": judge.name,
        "wall_seconds": seconds,
        "new_responses": run.new_responses,
        "responses_per_second": run.new_responses / seconds if seconds > 0 else None,
        "config": config.to_dict(),
    }
    write_json(config.output / SUMMARY_FILE, summary)
    return summary


def judged_rows(rows: list[dict]) -> list[Judged]:
    """Response rows of ``responses.jsonl`` as scoring records (clustered by template)."""
    return [Judged(r["template_id"], r["loose"], r["strict"], r["template_mentions_vendor"]) for r in rows]


def summarize(
    rows: list[dict], templates: list[dict], *, seed: int = 0, vendor_words: tuple[str, ...] = PAPER_VENDOR_WORDS
) -> dict:
    """Scores over all responses with template-bootstrap intervals, strict vendors and rewrite statistics."""
    judged = judged_rows(rows)
    c = counts(judged)
    n = max(c["n"], 1)
    summary: dict = {"n_responses": c["n"], "n_templates": len(templates), "unparsed": c["unparsed"]}
    for score in SCORES:
        summary[score] = c[score] / n
        summary[f"{score}_hits"] = c[score]
        summary[f"{score}_ci"] = list(bootstrap_ci(judged, score, seed=seed))
    summary["strict_vendors"] = dict(Counter(v for r in rows if r["loose"] and r["strict"] for v in r["vendors"]))
    summary["refused_rewrites"] = sum(bool(t.get("refused")) for t in templates)
    summary["templates_with_query_slot"] = sum("{query}" in t["template"] for t in templates)
    summary["templates_mentioning_vendor"] = sum(mentions_vendor(t["template"], vendor_words) for t in templates)
    return summary


def template_texts(folder: str | Path) -> list[str]:
    """The templates of a run folder in iteration order (what ``compare`` pairs on)."""
    path = Path(folder) / TEMPLATES_FILE
    rows = read_records(path, format="jsonl") if path.exists() else []
    return [r["template"] for r in sorted(rows, key=lambda r: r["id"])]


def load_run(folder: str | Path) -> list[dict]:
    """The response rows of a finished (or partial) run folder."""
    path = Path(folder) / RESPONSES_FILE
    if not path.exists():
        raise LmforgeError(f"{folder}: no {RESPONSES_FILE} (is this an ICE run folder?)")
    return read_records(path, format="jsonl")
