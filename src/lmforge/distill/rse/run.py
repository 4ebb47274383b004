"""The RSE run: responses of a reference and of targets to the same prompts, scored for similarity.

Layout of the run folder (rerun the same command to resume):

- ``responses.jsonl``: one row per (role, model, dataset, prompt, sample) with the response
  and the model's full settings (backend, temperature, seed, max tokens, system prompt),
  appended chunk by chunk; generation also goes through the persistent response cache.
- ``judgements.jsonl``: the LLM judge's scores and raw replies, appended as they come.
- ``scores.jsonl``: per (model, dataset, prompt) the offline aspects (0–2), overall (1–5),
  raw measures, and the judge's scores where there is a judge.
- ``run.json``: the generation settings; a rerun with other ones is refused.
- ``summary.json``: settings, calibration levels, aggregates with intervals, correlations.

Calibration [design]: a *noise model* (the reference itself when it is a model, else the
first target unless set) answers every prompt twice at ``noise_temperature``; its
same-prompt pairs set the 2 level, its shuffled pairs the 0 level. Its second sample scored
against its first is reported as the noise floor row (``noise-floor:MODEL``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmforge.core.data import JsonlWriter, read_records, write_json
from lmforge.core.errors import LmforgeError
from lmforge.core.generation import GenerationConfig, Generator, ResponseCache, make_generator
from lmforge.distill.config import NEUTRAL_SYSTEM_PROMPT
from lmforge.distill.rse.aggregate import aggregate, correlation
from lmforge.distill.rse.prompts import RsePrompt, load_prompt_set, read_answers
from lmforge.distill.rse.similarity import ASPECTS, Calibration, aspect_scores, minilm_encoder, raw_similarities

RESPONSES, JUDGEMENTS, SCORES, SUMMARY = "responses.jsonl", "judgements.jsonl", "scores.jsonl", "summary.json"
MANIFEST = "run.json"
FILE_PREFIX = "file:"
NOISE_PREFIX = "noise-floor:"
KNOWN_DATASETS = ("arenahard", "numina", "sharegpt")


@dataclass
class RseConfig:
    """One RSE run: a reference, targets, prompt sets, and how responses are generated and judged."""

    reference: str = field(metadata={"help": "model spec, or file:PATH of answers (Arena-Hard model_answer JSONL)"})
    targets: tuple[str, ...] = field(metadata={"help": "model specs compared with the reference"})
    prompts: tuple[str, ...] = field(metadata={"help": "prompt sets KIND:PATH (arenahard, sharegpt, ...) or demo"})
    output: Path = field(metadata={"help": "run folder (resumable)"})
    n_prompts: int | None = field(default=None, metadata={"help": "prompts sampled per set (None = all)"})
    seed: int = field(default=0, metadata={"help": "prompt sampling, generation seeds and bootstrap"})
    max_new_tokens: int = 256
    temperature: float = field(default=0.0, metadata={"help": "decoding of reference and targets (0 = greedy)"})
    system_prompt: str | None = field(default=NEUTRAL_SYSTEM_PROMPT, metadata={"help": "None: no system turn"})
    noise_model: str | None = field(default=None, metadata={"help": "two samples per prompt set the 2 level"})
    noise_temperature: float = 0.7
    judge: str = field(default="offline", metadata={"help": "offline, or llm:MODEL (offline scores are kept too)"})
    judge_base_url: str | None = None
    judge_api_key_env: str | None = None
    judge_retries: int = 2
    encoder: str | None = field(default="minilm-l6", metadata={"help": "sentence encoder; None: ROUGE-L only"})
    base_url: str | None = field(default=None, metadata={"help": "server of openai: reference/targets"})
    api_key_env: str | None = None
    batch_size: int = 16
    cache: bool = True
    n_boot: int = 2000

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        self.targets = tuple(self.targets)
        self.prompts = tuple(self.prompts)
        if not self.targets or not self.prompts:
            raise LmforgeError("an RSE run needs at least one target and one prompt set")
        if self.max_new_tokens < 1 or self.temperature < 0 or self.noise_temperature <= 0:
            raise LmforgeError("max_new_tokens must be positive, temperature ≥ 0 and noise_temperature > 0")
        if self.judge != "offline" and not self.judge.startswith("llm:"):
            raise LmforgeError(f"unknown RSE judge {self.judge!r}: use 'offline' or 'llm:MODEL'")
        if self.noise_model is None:
            self.noise_model = self.targets[0] if self.reference_is_file else self.reference

    @property
    def reference_is_file(self) -> bool:
        return self.reference.startswith(FILE_PREFIX)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        return out | {"output": str(self.output), "targets": list(self.targets), "prompts": list(self.prompts)}


def load_prompts(config: RseConfig) -> list[RsePrompt]:
    """Every prompt set, sampled; dataset names must differ (they are the aggregation's groups)."""
    prompts: list[RsePrompt] = []
    names: set[str] = set()
    for spec in config.prompts:
        chunk = load_prompt_set(spec, config.n_prompts, config.seed)
        if chunk[0].dataset in names:
            raise LmforgeError(f"two prompt sets are both named '{chunk[0].dataset}': rename one file")
        names.add(chunk[0].dataset)
        prompts += chunk
    return prompts


def _messages(config: RseConfig, prompt: RsePrompt) -> list[dict]:
    system = [{"role": "system", "content": config.system_prompt}] if config.system_prompt is not None else []
    return system + list(prompt.messages)


class Responses:
    """``responses.jsonl`` as a lookup; generates what is missing, one model at a time, chunk by chunk."""

    def __init__(
        self,
        config: RseConfig,
        prompts: list[RsePrompt],
        progress: Callable[[str], None],
        given: Mapping[str, Generator] | None = None,
    ) -> None:
        self.config, self.prompts, self.progress, self.given = config, prompts, progress, dict(given or {})
        path = config.output / RESPONSES
        self.rows = {r["id"]: r for r in read_records(path, format="jsonl")} if path.exists() else {}
        self._generator: tuple[str, Generator] | None = None
        self.settings: dict[str, dict] = {}
        self.new = 0

    @staticmethod
    def key(role: str, model: str, prompt: RsePrompt, sample: int) -> str:
        return f"{role}|{model}|{prompt.dataset}|{prompt.id}|{sample}"

    def text(self, role: str, model: str, prompt: RsePrompt, sample: int = 0) -> str:
        return self.rows[self.key(role, model, prompt, sample)]["response"]

    def generator(self, spec: str) -> Generator:
        """The model's generator; the previous one is dropped first so only one local model is in memory."""
        if spec in self.given:
            return self.given[spec]
        if self._generator is None or self._generator[0] != spec:
            self._generator = None
            cache = ResponseCache() if self.config.cache else None
            gen = make_generator(
                spec,
                base_url=self.config.base_url,
                api_key_env=self.config.api_key_env,
                cache=cache,
                batch_size=self.config.batch_size,
                show_progress=False,
            )
            self._generator = (spec, gen)
        return self._generator[1]

    def ensure(self, role: str, spec: str, gen_config: GenerationConfig, log: JsonlWriter) -> None:
        """Generate ``gen_config.n`` samples of ``spec`` for every prompt not yet in the file."""
        todo = [
            p for p in self.prompts if any(self.key(role, spec, p, j) not in self.rows for j in range(gen_config.n))
        ]
        settings = {
            "temperature": gen_config.temperature,
            "seed": gen_config.seed,
            "n": gen_config.n,
            "max_new_tokens": gen_config.max_new_tokens,
            "system_prompt": self.config.system_prompt,
        }
        if todo:
            gen = self.generator(spec)
            settings |= gen.describe()
            chunk = max(self.config.batch_size * 2, 8)
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                ids = [f"{p.dataset}:{p.id}" for p in part]
                texts = gen.generate([_messages(self.config, p) for p in part], gen_config, ids=ids)
                for p, samples in zip(part, texts, strict=True):
                    for j, text in enumerate(samples):
                        row = {
                            "id": self.key(role, spec, p, j),
                            "role": role,
                            "model": spec,
                            "dataset": p.dataset,
                            "prompt_id": p.id,
                            "sample": j,
                            "response": text,
                            "settings": settings,
                        }
                        if row["id"] not in self.rows:
                            log.write(row)
                            self.rows[row["id"]] = row
                            self.new += 1
                self.progress(f"{role} {spec}: {min(start + chunk, len(todo))}/{len(todo)} prompts")
        else:
            settings |= next(r["settings"] for r in self.rows.values() if r["role"] == role and r["model"] == spec)
        self.settings[f"{role}|{spec}"] = settings

    def add_reference_file(self, path: str, log: JsonlWriter) -> None:
        """Reference answers used as they are; every prompt must have one."""
        answers = read_answers(path)
        missing = [p for p in self.prompts if p.id not in answers and p.reference is None]
        if missing:
            raise LmforgeError(
                f"{path}: no answer for {len(missing)} of {len(self.prompts)} prompts "
                f"(first: {missing[0].dataset}:{missing[0].id}); use prompts the file answers"
            )
        spec = FILE_PREFIX + path
        for p in self.prompts:
            key = self.key("reference", spec, p, 0)
            if key not in self.rows:
                row = {
                    "id": key,
                    "role": "reference",
                    "model": spec,
                    "dataset": p.dataset,
                    "prompt_id": p.id,
                    "sample": 0,
                    "response": answers.get(p.id, p.reference),
                    "settings": {"source": path},
                }
                log.write(row)
                self.rows[key] = row
        self.settings[f"reference|{spec}"] = {"source": path}


GENERATION_KEYS = (
    "reference",
    "noise_model",
    "max_new_tokens",
    "temperature",
    "noise_temperature",
    "system_prompt",
    "seed",
)


def check_manifest(config: RseConfig) -> None:
    """Refuse to resume a folder whose responses were made with other generation settings (they would be mixed)."""
    config.output.mkdir(parents=True, exist_ok=True)
    path = config.output / MANIFEST
    wanted = {k: getattr(config, k) for k in GENERATION_KEYS}
    if path.exists():
        found = json.loads(path.read_text(encoding="utf-8"))
        changed = [k for k in GENERATION_KEYS if found.get(k) != wanted[k]]
        if changed:
            raise LmforgeError(
                f"{config.output}: its responses were made with other {', '.join(changed)}; use a new --output folder"
            )
    else:
        write_json(path, wanted)


def _judge_all(judge, pairs: dict[str, list[tuple[RsePrompt, str, str]]], log_path: Path) -> dict:
    """LLM rubric scores of each model's (prompt, reference, response), appended; rows keyed by judge|model|prompt."""
    done = {r["id"]: r for r in read_records(log_path, format="jsonl")} if log_path.exists() else {}
    with JsonlWriter(log_path) as log:
        for model, items in pairs.items():
            todo = [(p, ref, resp) for p, ref, resp in items if f"{judge.name}|{model}|{p.dataset}|{p.id}" not in done]
            for start in range(0, len(todo), 32):
                part = todo[start : start + 32]
                scores = judge.judge([(p.question, ref, resp) for p, ref, resp in part])
                for (p, _, _), score in zip(part, scores, strict=True):
                    row = {"id": f"{judge.name}|{model}|{p.dataset}|{p.id}", "judge": judge.name} | score.to_dict()
                    log.write(row)
                    done[row["id"]] = row
    return done


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)


def run_rse(
    config: RseConfig,
    *,
    encoder: Callable[[list[str]], np.ndarray] | None = None,
    judge=None,
    generators: Mapping[str, Generator] | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> dict:
    """Run (or resume) the RSE in ``config.output``; returns the summary also written to ``summary.json``.

    ``encoder`` (texts → unit vectors) and ``judge`` (a :class:`RubricJudge`) default to what
    the config names; ``generators`` maps model specs to ready generators (loaded models,
    stand-ins in tests). ``progress(message)`` reports each finished chunk.
    """
    start = time.perf_counter()
    prompts = load_prompts(config)
    if judge is None and config.judge != "offline":
        from lmforge.distill.rse.judge import make_rubric_judge

        judge = make_rubric_judge(
            config.judge, base_url=config.judge_base_url, api_key_env=config.judge_api_key_env, cache=config.cache
        )
    check_manifest(config)
    store = Responses(config, prompts, progress, generators)
    ref_spec = config.reference
    gen = GenerationConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=config.seed)
    noise = GenerationConfig(
        max_new_tokens=config.max_new_tokens, temperature=config.noise_temperature, n=2, seed=config.seed
    )
    with JsonlWriter(config.output / RESPONSES) as log:
        if config.reference_is_file:
            store.add_reference_file(ref_spec.removeprefix(FILE_PREFIX), log)
        else:
            store.ensure("reference", ref_spec, gen, log)
        store.ensure("noise", config.noise_model, noise, log)
        for target in config.targets:
            store.ensure("target", target, gen, log)
    store._generator = None
    progress("scoring")
    if encoder is None and config.encoder is not None:
        encoder = minilm_encoder(config.encoder)
    first = [store.text("noise", config.noise_model, p, 0) for p in prompts]
    second = [store.text("noise", config.noise_model, p, 1) for p in prompts]
    calibration = Calibration.fit(first, second, encoder, seed=config.seed, source=f"{config.noise_model} ×2")
    compared: dict[str, list[tuple[RsePrompt, str, str]]] = {
        t: [(p, store.text("reference", ref_spec, p), store.text("target", t, p)) for p in prompts]
        for t in config.targets
    }
    compared[NOISE_PREFIX + config.noise_model] = [(p, a, b) for p, a, b in zip(prompts, first, second, strict=True)]
    rows: list[dict] = []
    for model, items in compared.items():
        raw = raw_similarities([(ref, resp) for _, ref, resp in items], encoder)
        scored = aspect_scores(raw, calibration)
        for k, (p, _, _) in enumerate(items):
            rows.append(
                {
                    "id": f"{model}|{p.dataset}|{p.id}",
                    "model": model,
                    "dataset": p.dataset,
                    "prompt_id": p.id,
                    "question": p.question,
                }
                | {a: float(scored[a][k]) for a in (*ASPECTS, "overall")}
                | {"raw": {m: float(v[k]) for m, v in raw.items()}}
            )
    summary: dict = {
        "kind": "rse",
        "reference": ref_spec,
        "targets": list(config.targets),
        "noise_model": config.noise_model,
        "datasets": sorted({p.dataset for p in prompts}),
        "datasets_absent": [d for d in KNOWN_DATASETS if d not in {p.dataset for p in prompts}],
        "n_prompts": {d: sum(p.dataset == d for p in prompts) for d in sorted({p.dataset for p in prompts})},
        "settings": store.settings,
        "calibration": calibration.to_dict(),
        "offline": aggregate(rows, n_boot=config.n_boot, seed=config.seed),
    }
    if judge is not None:
        judged = _judge_all(judge, compared, config.output / JUDGEMENTS)
        for row in rows:
            j = judged[f"{judge.name}|{row['id']}"]
            row["judge"] = {k: j[k] for k in ("style", "structure", "content", "overall", "parsed")}
        judge_rows = [{"model": r["model"], "dataset": r["dataset"]} | r["judge"] for r in rows]
        targets = [r for r in rows if not r["model"].startswith(NOISE_PREFIX)]
        summary |= {
            "judge": judge.name,
            "llm": aggregate(judge_rows, n_boot=config.n_boot, seed=config.seed),
            "unparsed": {m: sum(not r["judge"]["parsed"] for r in rows if r["model"] == m) for m in compared},
            "correlation": {
                key: correlation([r[key] for r in targets], [r["judge"][key] for r in targets])
                for key in (*ASPECTS, "overall")
            },
        }
    _write_jsonl(config.output / SCORES, rows)
    summary |= {"new_responses": store.new, "wall_seconds": time.perf_counter() - start, "config": config.to_dict()}
    write_json(config.output / SUMMARY, summary)
    return summary


def load_rse_run(folder: str | Path) -> tuple[dict, list[dict], list[dict]]:
    """A finished RSE run: its summary, score rows and response rows."""
    folder = Path(folder)
    path = folder / SUMMARY
    if not path.exists():
        raise LmforgeError(f"{folder}: no {SUMMARY} (is this a finished RSE run folder?)")
    summary = json.loads(path.read_text(encoding="utf-8"))
    return summary, read_records(folder / SCORES, format="jsonl"), read_records(folder / RESPONSES, format="jsonl")
