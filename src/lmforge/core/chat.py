"""Render conversations to model text, and find which characters the assistant wrote.

A tokenizer with a chat template uses it. One without (a base model) sees plain text: the
turns' contents joined by a blank line, with no cue after the last one, so a one-turn
prompt reaches the model exactly as written and the model continues it.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from lmforge.core.errors import LmforgeError

Message = dict[str, str]
PLAIN_SEPARATOR = "\n\n"


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render(
    tokenizer: PreTrainedTokenizerBase,
    messages: Sequence[Message],
    *,
    add_generation_prompt: bool,
    use_template: bool = True,
) -> str:
    """The text the model sees for ``messages`` (ending with the assistant cue if asked).

    ``use_template=False`` gives the plain-text form even when the tokenizer has a template
    (e.g. to let an instruct model continue a raw prompt, as text-continuation metrics expect).
    """
    if use_template and has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )
    return PLAIN_SEPARATOR.join(m["content"] for m in messages)


def assistant_spans(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of every assistant turn.

    A turn's span runs from the end of the prompt that cues it to the end of the
    conversation rendered through it (trailing whitespace excluded), so it includes the
    turn's end-of-turn marker, which the model must also produce. Relies on each rendered
    prefix being a prefix of the whole.
    """
    full = render(tokenizer, messages, add_generation_prompt=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        if has_chat_template(tokenizer):
            cue = render(tokenizer, messages[:i], add_generation_prompt=True) if i else ""
        else:
            cue = render(tokenizer, messages[:i], add_generation_prompt=False) + PLAIN_SEPARATOR if i else ""
        through = render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not full.startswith(through) or not through.startswith(cue):
            raise LmforgeError(
                "this chat template renders a conversation differently from its prefixes, so assistant "
                "tokens cannot be located; score with a template that appends turns"
            )
        spans.append((len(cue), len(through.rstrip())))  # not the newline after the end-of-turn marker
    return full, spans
