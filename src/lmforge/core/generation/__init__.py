"""One :class:`Generator` interface with a local HF backend and an OpenAI-compatible HTTP backend.

``make_generator("openai:MODEL", base_url=...)`` talks to any OpenAI-compatible server (vLLM,
TGI, a commercial API); any other spec loads a local model through the model registry.
"""

from __future__ import annotations

from lmforge.core.errors import LmforgeError
from lmforge.core.generation.base import GenerationConfig, Generator, Prompt, SampleJob, derive_seed
from lmforge.core.generation.cache import ResponseCache

OPENAI_PREFIX = "openai:"

__all__ = [
    "GenerationConfig",
    "Generator",
    "Prompt",
    "ResponseCache",
    "SampleJob",
    "derive_seed",
    "make_generator",
]


def make_generator(
    spec: str,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    cache: ResponseCache | None = None,
    batch_size: int = 16,
    concurrency: int = 8,
    show_progress: bool = True,
) -> Generator:
    """A generator for a model spec: ``openai:NAME`` (needs ``base_url``) or a local model spec."""
    if spec.startswith(OPENAI_PREFIX):
        from lmforge.core.generation.openai import OpenAIGenerator

        if not base_url:
            raise LmforgeError(f"model '{spec}' is served over HTTP: pass --base-url (e.g. http://127.0.0.1:8000/v1)")
        return OpenAIGenerator(
            base_url=base_url,
            model=spec.removeprefix(OPENAI_PREFIX),
            api_key_env=api_key_env,
            concurrency=concurrency,
            cache=cache,
            show_progress=show_progress,
        )
    from lmforge.core.generation.local import HFGenerator

    return HFGenerator.from_spec(spec, batch_size=batch_size, show_progress=show_progress, cache=cache)
