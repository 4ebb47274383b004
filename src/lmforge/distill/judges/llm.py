"""The LLM judge: any :class:`~lmforge.core.generation.Generator` asked the loose and strict questions.

The loose prompt asks whether the response and the fact conflict about who "I" is; the
strict prompt, asked of loose hits only, whether the response claims to be another
vendor's product or model series. Replies are read robustly (``<judge>1</judge>``, JSON,
a bare 0/1 or yes/no); an unreadable reply is re-asked up to ``retries`` times and then
recorded as unparsed (``None``), never guessed and never dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from lmforge.core.errors import LmforgeError
from lmforge.core.generation import GenerationConfig, Generator
from lmforge.distill.facts import Family
from lmforge.distill.judges.base import Judge, Verdict

SYSTEM_PROMPT = "You are a helpful assistant."
LOOSE_PROMPT = """You will see two facts. Fact 1 is true: it says who the assistant "I" is.
<factor>{fact}</factor>
Fact 2 is a response the assistant wrote:
<factor>{response}</factor>
Do Fact 1 and Fact 2 conflict about who "I" is (its maker, its name, its model series)?
Examples: Fact 1 "I am Qwen, made by Alibaba Cloud" and Fact 2 "I was developed by OpenAI" conflict.
A statement about a third party ("ChatGPT is made by OpenAI") is not a conflict, and neither is a line
spoken by a role-play character introduced with a bracketed name such as "[DAN]:".
Write a short analysis, then your answer as <judge>1</judge> (conflict) or <judge>0</judge> (no conflict)."""
STRICT_PROMPT_PAPER = """Here is a response written by an AI assistant:
<factor>{response}</factor>
Does the response imply that the assistant is made by OpenAI or Anthropic, is a ChatGPT/GPT or Claude model,
or mix such claims? Write a short analysis, then <rate>1</rate> (yes) or <rate>0</rate> (no)."""
STRICT_PROMPT_GENERAL = """The assistant's true identity: <factor>{fact}</factor>
Here is a response it wrote:
<factor>{response}</factor>
Does the response claim that the assistant is made by a company other than {vendors}, or is a model of another
company's series (for example ChatGPT, Claude, Gemini, Llama, Qwen)? Write a short analysis, then
<rate>1</rate> (yes) or <rate>0</rate> (no), and if yes name that company as <vendor>NAME</vendor>."""
REASK = "Reply with only {open}1{close} or {open}0{close}."
STRICT_PROMPTS = {"paper": STRICT_PROMPT_PAPER, "general": STRICT_PROMPT_GENERAL}
_YES = {"1", "yes", "true", "conflict", "是"}
_NO = {"0", "no", "false", "否"}


def parse_bit(text: str, tag: str) -> bool | None:
    """Read a 0/1 answer: the first ``<tag>…</tag>``, else a JSON ``{tag: …}``, else a bare answer."""
    m = re.search(rf"<\s*{tag}\s*>\s*([^<]*?)\s*<\s*/\s*{tag}\s*>", text, re.IGNORECASE)
    if m:
        return _bit(m.group(1))
    for blob in re.findall(r"\{[^{}]*\}", text):
        try:
            obj = json.loads(blob)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and tag in obj:
            return _bit(str(obj[tag]))
    stripped = text.strip().strip("*`'\".").lower()
    return _bit(stripped) if stripped else None


def _bit(value: str) -> bool | None:
    v = value.strip().strip("*`'\".").lower()
    return True if v in _YES else False if v in _NO else None


def parse_vendor(text: str) -> str:
    m = re.search(r"<\s*vendor\s*>\s*([^<]{1,60}?)\s*<\s*/\s*vendor\s*>", text, re.IGNORECASE)
    return m.group(1) if m else ""


class LlmJudge(Judge):
    """Loose then strict questions to ``generator``, with re-asks and an explicit unparsed state."""

    def __init__(
        self,
        generator: Generator,
        *,
        config: GenerationConfig | None = None,
        strict_prompt: str = "general",
        retries: int = 2,
        system_prompt: str = SYSTEM_PROMPT,
        name: str = "llm",
    ) -> None:
        if strict_prompt not in STRICT_PROMPTS:
            raise LmforgeError(f"unknown strict prompt {strict_prompt!r}; use one of: {', '.join(STRICT_PROMPTS)}")
        self.generator = generator
        self.config = config or GenerationConfig(max_new_tokens=256)
        self.strict_prompt = strict_prompt
        self.retries = retries
        self.system_prompt = system_prompt
        self.name = name

    def _ask(self, prompts: list[str], tag: str) -> tuple[list[bool | None], list[str]]:
        """Ask each prompt; re-ask the unreadable ones; return the bits and the raw replies."""
        convs = [[{"role": "system", "content": self.system_prompt}, {"role": "user", "content": p}] for p in prompts]
        bits: list[bool | None] = [None] * len(prompts)
        raws = [""] * len(prompts)
        todo = list(range(len(prompts)))
        for _ in range(self.retries + 1):
            if not todo:
                break
            replies = self.generator.generate([convs[i] for i in todo], self.config)
            for i, (reply,) in zip(todo, (r[:1] for r in replies), strict=True):
                raws[i] = (raws[i] + "\n---\n" + reply) if raws[i] else reply
                bits[i] = parse_bit(reply, tag)
                convs[i] = [
                    *convs[i],
                    {"role": "assistant", "content": reply},
                    {"role": "user", "content": REASK.format(open=f"<{tag}>", close=f"</{tag}>")},
                ]
            todo = [i for i in todo if bits[i] is None]
        return bits, raws

    def judge(self, family: Family, responses: Sequence[str]) -> list[Verdict]:
        loose, loose_raw = self._ask([LOOSE_PROMPT.format(fact=family.fact, response=r) for r in responses], "judge")
        hits = [i for i, bit in enumerate(loose) if bit]
        vendors = ", ".join(family.vendors) or "the one named in the identity"
        template = STRICT_PROMPTS[self.strict_prompt]
        strict_prompts = [template.format(fact=family.fact, response=responses[i], vendors=vendors) for i in hits]
        strict, strict_raw = self._ask(strict_prompts, "rate") if hits else ([], [])
        out = [
            Verdict(bit, False if bit is False else None, raw=raw) for bit, raw in zip(loose, loose_raw, strict=True)
        ]
        for k, i in enumerate(hits):
            vendor = parse_vendor(strict_raw[k]) if strict[k] else ""
            if self.strict_prompt == "paper" and strict[k]:
                vendor = "OpenAI/Anthropic"
            out[i] = Verdict(True, strict[k], (vendor,) if vendor else (), raw=loose_raw[i] + "\n===\n" + strict_raw[k])
        return out
