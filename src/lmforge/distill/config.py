"""`IceConfig`: every setting of an ICE run, with the paper's values as defaults where it had them.

``mode="fixed"`` (default) repairs the official code's bugs; ``mode="paper"`` reproduces them
(Expand replaces the template instead of prepending to it; the MCTS reward is divided by
questions², not questions × new templates; echoed template markers are kept).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmforge.core.errors import DataError, LmforgeError

NEUTRAL_SYSTEM_PROMPT = "You are a helpful assistant."
OPERATORS = ("crossover", "expand", "generate_similar", "shorten", "rephrase")


@dataclass
class IceConfig:
    """One ICE audit of one target model."""

    target: str = field(metadata={"help": "model spec: bundled name, local dir, .gguf, hub id, or openai:NAME"})
    output: Path = field(metadata={"help": "run folder: responses.jsonl, templates.jsonl, summary.json (resumable)"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server of the target"})
    api_key_env: str | None = field(default=None, metadata={"help": "environment variable holding its API key"})
    fact: str | None = field(default=None, metadata={"help": "the target's identity fact (default: its family's)"})
    family: str | None = field(default=None, metadata={"help": "family key in the facts YAML (default: from name)"})
    facts: tuple[Path, ...] = field(default=(), metadata={"help": "extra identity-facts YAML files"})
    helper: str | None = field(default=None, metadata={"help": "mutation model spec; None = seeds only, no rewrites"})
    helper_base_url: str | None = None
    helper_api_key_env: str | None = None
    helper_max_new_tokens: int = field(default=512, metadata={"help": "length limit of one rewrite"})
    judge: str = field(default="offline", metadata={"help": "offline, or llm:MODEL (e.g. llm:openai:gpt-4o-mini)"})
    judge_mode: str = field(default="claims", metadata={"help": "offline judge mode: claims or paper"})
    judge_base_url: str | None = None
    judge_api_key_env: str | None = None
    strict_prompt: str = field(default="general", metadata={"help": "LLM strict prompt: general or paper"})
    questions: Path | None = field(default=None, metadata={"help": "question CSV/JSONL (default: the shipped bank)"})
    langs: tuple[str, ...] = field(default=("en", "zh"), metadata={"help": "question languages to keep"})
    n_questions: int | None = field(default=None, metadata={"help": "use the first N per language (None = all)"})
    templates: Path | None = field(default=None, metadata={"help": "seed file (default: the shipped seeds)"})
    n_seeds: int | None = field(default=None, metadata={"help": "seeds drawn as tree roots (paper: 76)"})
    budget: int = field(default=1000, metadata={"help": "target queries: templates × questions"})
    max_new_tokens: int = field(default=256, metadata={"help": "target response length (paper: 2048)"})
    system_prompt: str = field(default=NEUTRAL_SYSTEM_PROMPT, metadata={"help": "sent to the target, recorded"})
    plain_prompt: bool = field(default=False, metadata={"help": "base model: no chat template, no system prompt"})
    mode: str = field(default="fixed", metadata={"help": "fixed (bugs repaired) or paper (bugs kept)"})
    hard_rule: str = field(
        default="paper", metadata={"help": "hard excludes templates naming: paper = openai/gpt; vendors = any alias"}
    )
    seed: int = field(default=0, metadata={"help": "seeds every random choice (seed draw, operator, α-stop)"})
    mcts_ratio: float = 0.5
    mcts_alpha: float = 0.1
    mcts_beta: float = 0.2
    batch_size: int = field(default=16, metadata={"help": "local backends' batch size"})
    cache: bool = field(default=True, metadata={"help": "use the persistent response cache"})

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        self.facts = tuple(Path(p) for p in self.facts)
        self.langs = tuple(self.langs)
        if self.mode not in ("fixed", "paper"):
            raise LmforgeError(f"mode must be 'fixed' or 'paper', got {self.mode!r}")
        if self.hard_rule not in ("paper", "vendors"):
            raise LmforgeError(f"hard_rule must be 'paper' or 'vendors', got {self.hard_rule!r}")
        if self.budget < 1 or self.max_new_tokens < 1 or self.helper_max_new_tokens < 1:
            raise LmforgeError("budget, max_new_tokens and helper_max_new_tokens must be positive")
        if not 0 <= self.mcts_alpha < 1 or self.mcts_ratio < 0 or not 0 <= self.mcts_beta <= 1:
            raise LmforgeError("MCTS settings: 0 ≤ alpha < 1, ratio ≥ 0, 0 ≤ beta ≤ 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (paths as strings), recorded in the run's summary."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
            elif isinstance(value, tuple):
                out[key] = [str(v) for v in value]
        return out

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> IceConfig:
        """Settings from a YAML mapping of field names; ``overrides`` (e.g. CLI flags) win."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise DataError(path, "file not found", fix="check the path to the run YAML") from None
        except yaml.YAMLError as e:
            raise DataError(path, f"invalid YAML: {e}".splitlines()[0]) from None
        if not isinstance(data, dict):
            raise DataError(path, "top level must be a mapping of settings")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise DataError(path, f"unknown settings: {', '.join(unknown)}", fix=f"known: {', '.join(sorted(names))}")
        merged = data | {k: v for k, v in overrides.items() if v is not None}
        for key in ("target", "output"):
            if key not in merged:
                raise DataError(path, f"'{key}' is required", field=key)
        return cls(**merged)
