"""Local backend: batched ``model.generate`` with left padding and per-sample seeds.

Sampling draws each row's randomness from that row's own ``torch.Generator`` (seeded from
the sample's derived seed) through Gumbel-max: adding Gumbel noise to the tempered, top-p
filtered logits and taking the argmax is an exact draw from the same distribution. A
sample's text therefore does not depend on which other prompts share its batch or on
which samples were already cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import GenerationConfig as HFGenerationConfig
from transformers import LogitsProcessor, PreTrainedModel, PreTrainedTokenizerBase

from lmforge.core.chat import has_chat_template, render
from lmforge.core.generation.base import GenerationConfig, Generator, SampleJob

# End-of-turn tokens of common chat templates: generation stops at any that the vocabulary has.
END_OF_TURN_TOKENS = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endoftext|>")


class SeededSampling(LogitsProcessor):
    """Temperature + top-p sampling with one RNG per row, as a processor for greedy search."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float) -> None:
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            logits = top_p_filter(logits, self.top_p)
        vocab = logits.shape[-1]
        uniform = torch.stack([torch.rand(vocab, generator=g) for g in self.generators]).to(logits.device)
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-12, 1.0 - 1e-7)))
        return logits + gumbel


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Mask (to -inf) the tokens outside the smallest set whose probability reaches ``top_p``."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    outside = probs.cumsum(dim=-1) - probs > top_p  # the top token is always kept
    mask = torch.zeros_like(outside).scatter(-1, order, outside)
    return logits.masked_fill(mask, float("-inf"))


def stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """EOS ids of the model and tokenizer plus the template's end-of-turn tokens."""
    ids: set[int] = set()
    for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        if source is not None:
            ids.update(source if isinstance(source, list) else [source])
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
    return sorted(ids)


@dataclass
class HFGenerator(Generator):
    """Batched generation with a transformers model on this machine."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str = ""
    batch_size: int = 16
    use_chat_template: bool = True  # False: continue the prompt's plain text even if a template exists
    generated_tokens: int = field(default=0, init=False)  # running total, for throughput reports
    _eos: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.backend = "hf"
        self.name = self.name or self.model.config.name_or_path
        self._eos = stop_token_ids(self.model, self.tokenizer)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token_id = self._eos[0]
        self.model.eval()

    @classmethod
    def from_spec(cls, spec: str, **kwargs) -> HFGenerator:
        """Load a model by spec (bundled name, directory, GGUF file or hub id) onto :func:`default_device`."""
        from lmforge.core.models import default_device, fingerprint, load_causal_lm, load_tokenizer

        model = load_causal_lm(spec).to(default_device())
        return cls(model=model, tokenizer=load_tokenizer(spec), name=fingerprint(spec), **kwargs)

    @property
    def templated(self) -> bool:
        return self.use_chat_template and has_chat_template(self.tokenizer)

    @property
    def model_id(self) -> str:
        return self.name if self.templated else f"{self.name}|plain-text"

    def encode(self, jobs: Sequence[SampleJob]) -> list[list[int]]:
        """Token ids of each job's rendered prompt (templates carry their own special tokens)."""
        texts = [
            render(self.tokenizer, job.prompt.messages, add_generation_prompt=True, use_template=self.templated)
            for job in jobs
        ]
        return self.tokenizer(texts, add_special_tokens=not self.templated)["input_ids"]

    def _run(self, jobs: list[SampleJob], config: GenerationConfig, done: Callable[[int, str], None]) -> None:
        encoded = self.encode(jobs)
        order = sorted(range(len(jobs)), key=lambda i: -len(encoded[i]))  # longest first: OOM shows early
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            texts = self._generate_batch([encoded[i] for i in batch], [jobs[i].seed for i in batch], config)
            for i, text in zip(batch, texts, strict=True):
                done(i, text)

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], seeds: list[int], config: GenerationConfig) -> list[str]:
        inputs = self.tokenizer.pad({"input_ids": prompts}, padding_side="left", return_tensors="pt")
        inputs = inputs.to(self.model.device)
        hf_config = HFGenerationConfig(
            max_new_tokens=config.max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=self._eos,
            pad_token_id=self.tokenizer.pad_token_id,
            stop_strings=list(config.stop) or None,
        )
        processors = [] if config.greedy else [SeededSampling(seeds, config.temperature, config.top_p)]
        output = self.model.generate(
            **inputs,
            generation_config=hf_config,
            logits_processor=processors,
            tokenizer=self.tokenizer if config.stop else None,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        self.generated_tokens += int((new_tokens != self.tokenizer.pad_token_id).sum())
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
