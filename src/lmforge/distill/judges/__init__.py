"""ICE judges behind one interface: the offline rule judge and the LLM judge."""

from __future__ import annotations

from lmforge.core.errors import LmforgeError
from lmforge.distill.facts import FactBook
from lmforge.distill.judges.base import Judge, Verdict
from lmforge.distill.judges.offline import OfflineJudge

__all__ = ["Judge", "OfflineJudge", "Verdict", "make_judge"]

LLM_PREFIX = "llm:"


def make_judge(
    spec: str,
    book: FactBook,
    *,
    mode: str = "claims",
    base_url: str | None = None,
    api_key_env: str | None = None,
    strict_prompt: str = "general",
    max_new_tokens: int = 256,
    cache: bool = True,
) -> Judge:
    """``offline`` (rule judge in ``mode``) or ``llm:MODEL`` (any generator spec, e.g. ``llm:openai:gpt-4o-mini``)."""
    if spec == "offline":
        return OfflineJudge(book, mode)
    if spec.startswith(LLM_PREFIX) and len(spec) > len(LLM_PREFIX):
        from lmforge.core.generation import GenerationConfig, ResponseCache, make_generator
        from lmforge.distill.judges.llm import LlmJudge

        model = spec.removeprefix(LLM_PREFIX)
        generator = make_generator(
            model, base_url=base_url, api_key_env=api_key_env, cache=ResponseCache() if cache else None
        )
        config = GenerationConfig(max_new_tokens=max_new_tokens)
        return LlmJudge(generator, config=config, strict_prompt=strict_prompt, name=spec)
    raise LmforgeError(f"unknown judge {spec!r}: use 'offline' or 'llm:MODEL' (e.g. llm:openai:gpt-4o-mini)")
