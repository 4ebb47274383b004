"""The backend-independent part of generation: prompts, settings, seeds and caching.

A backend only turns a list of :class:`SampleJob` into texts. Everything that makes a run
resumable and reproducible lives here, once: each sample gets a seed derived from
(run seed, prompt id, sample index), every finished sample is written to the response cache
as soon as it exists, and a rerun asks the backend only for what the cache lacks.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from lmforge.core.errors import LmforgeError
from lmforge.core.generation.cache import ResponseCache
from lmforge.core.progress import progress_bar

Message = dict[str, str]
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class GenerationConfig:
    """How to decode. ``max_new_tokens`` has no default: every caller states its own.

    ``temperature == 0`` means greedy decoding (``seed`` and ``top_p`` are then ignored and
    the ``n`` samples of a prompt are identical, so only one is computed).
    """

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise LmforgeError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")
        if self.temperature < 0:
            raise LmforgeError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise LmforgeError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.n < 1:
            raise LmforgeError(f"n must be >= 1, got {self.n}")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict:
        return asdict(self) | {"stop": list(self.stop)}

    def cache_params(self) -> dict:
        """The parameters that change a single sample's text (not ``n``, not the run seed)."""
        params = {"max_new_tokens": self.max_new_tokens, "stop": list(self.stop)}
        if not self.greedy:
            params |= {"temperature": self.temperature, "top_p": self.top_p}
        return params


@dataclass(frozen=True)
class Prompt:
    """One conversation to continue. ``id`` names it for seeding and for output rows."""

    messages: tuple[Message, ...]
    id: str

    @classmethod
    def of(cls, value: str | Sequence[Mapping[str, str]] | Prompt, id: str | None = None) -> Prompt:
        """Accept a plain string (one user turn), a list of chat messages, or a Prompt."""
        if isinstance(value, Prompt):
            return value if id is None else cls(value.messages, str(id))
        if isinstance(value, str):
            messages: tuple[Message, ...] = ({"role": "user", "content": value},)
        else:
            messages = tuple({"role": m["role"], "content": m["content"]} for m in value)
        for m in messages:
            if m["role"] not in ROLES:
                raise LmforgeError(f"unknown chat role {m['role']!r}; use one of {', '.join(ROLES)}")
        if not messages:
            raise LmforgeError("a prompt needs at least one message")
        return cls(messages, str(id) if id is not None else content_id(messages))


def content_id(messages: Iterable[Message]) -> str:
    """A stable id for a prompt that has none: a hash of its messages."""
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True).encode()).hexdigest()[:16]


def derive_seed(run_seed: int, prompt_id: str, sample_index: int) -> int:
    """Seed of one sample, independent of batching and of which samples were cached."""
    digest = hashlib.sha256(f"{run_seed}\x1f{prompt_id}\x1f{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1  # 31 bits: every server's seed field accepts it


@dataclass(frozen=True)
class SampleJob:
    """One text to produce: a prompt, which of its samples, and that sample's seed."""

    prompt: Prompt
    sample_index: int
    seed: int


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` before the earliest stop string (backends may return it included)."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


@dataclass
class Generator(ABC):
    """Turns prompts into ``n`` texts each, through a response cache when one is given.

    Subclasses set :attr:`backend` and implement :meth:`_run`; they report each finished
    sample through the callback so it is cached at once.
    """

    cache: ResponseCache | None = field(default=None, kw_only=True)
    show_progress: bool = field(default=True, kw_only=True)
    backend: str = field(default="", init=False)

    @property
    @abstractmethod
    def model_id(self) -> str:
        """What identifies the model in cache keys (name plus a fingerprint of its weights)."""

    @abstractmethod
    def _run(self, jobs: list[SampleJob], config: GenerationConfig, done: Callable[[int, str], None]) -> None:
        """Generate every job; call ``done(job_index, text)`` as each finishes (any order)."""

    def generate(
        self,
        prompts: Sequence[str | Sequence[Mapping[str, str]] | Prompt],
        config: GenerationConfig,
        *,
        ids: Sequence[str] | None = None,
    ) -> list[list[str]]:
        """Return ``config.n`` texts per prompt, in prompt order."""
        if ids is not None and len(ids) != len(prompts):
            raise LmforgeError(f"got {len(ids)} ids for {len(prompts)} prompts")
        items = [Prompt.of(p, None if ids is None else ids[i]) for i, p in enumerate(prompts)]
        computed = 1 if config.greedy else config.n
        jobs = [SampleJob(p, j, derive_seed(config.seed, p.id, j)) for p in items for j in range(computed)]
        texts: list[str | None] = [None] * len(jobs)
        keys = [self._cache_key(job, config) for job in jobs]
        if self.cache is not None:
            for i, text in enumerate(self.cache.get_many(keys)):
                texts[i] = text
        missing = [i for i, t in enumerate(texts) if t is None]

        with progress_bar(len(missing), "generating", enabled=self.show_progress and bool(missing)) as advance:

            def done(k: int, text: str) -> None:
                i = missing[k]
                text = truncate_at_stop(text, config.stop)
                texts[i] = text
                if self.cache is not None:
                    self.cache.put(keys[i], text)
                advance(1)

            if missing:
                self._run([jobs[i] for i in missing], config, done)
        out = [texts[k * computed : (k + 1) * computed] for k in range(len(items))]
        return [row * config.n if config.greedy else row for row in out]  # type: ignore[misc]

    def _cache_key(self, job: SampleJob, config: GenerationConfig) -> str:
        payload = {
            "backend": self.backend,
            "model": self.model_id,
            "params": config.cache_params(),
            "messages": list(job.prompt.messages),
            "seed": None if config.greedy else job.seed,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def describe(self) -> dict:
        """What to record beside outputs so a reader knows which model produced them."""
        return {"backend": self.backend, "model": self.model_id}
