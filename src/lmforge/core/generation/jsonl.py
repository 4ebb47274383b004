"""Generate for every row of a JSONL file, resumably.

Rows are processed in input order, in chunks; each finished row is appended to the output
at once, and each finished sample is already in the response cache. A rerun skips the rows
the output holds and recomputes nothing the cache holds, so an interrupted run, resumed,
writes exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lmforge.core.data import Field, JsonlWriter, iter_records
from lmforge.core.errors import DataError
from lmforge.core.generation.base import GenerationConfig, Generator, Prompt
from lmforge.core.progress import progress_bar

PROMPT_SCHEMA = (
    Field("id", (str, int), required=False),
    Field("prompt", str, required=False, help="the user message"),
    Field("messages", list, required=False, help="chat messages [{role, content}]"),
    Field("system", str, required=False, help="a system prompt placed before the prompt"),
)


def read_prompts(path: str | Path) -> list[Prompt]:
    """Prompts of a JSONL file: each row has ``prompt`` or ``messages``, optional ``id`` and ``system``."""
    prompts = []
    for line, row in enumerate(iter_records(path, PROMPT_SCHEMA), start=1):
        if (row.get("prompt") is None) == (row.get("messages") is None):
            raise DataError(path, "needs exactly one of 'prompt' or 'messages'", line=line, field="prompt")
        if row.get("messages") is not None:
            messages = row["messages"]
            if not all(isinstance(m, dict) and {"role", "content"} <= m.keys() for m in messages):
                raise DataError(path, "each message needs 'role' and 'content'", line=line, field="messages")
        else:
            messages = [{"role": "user", "content": row["prompt"]}]
        if row.get("system") is not None:
            messages = [{"role": "system", "content": row["system"]}, *messages]
        prompts.append(Prompt.of(messages, id=str(row["id"]) if row.get("id") is not None else f"row-{line}"))
    ids = [p.id for p in prompts]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise DataError(path, f"id '{duplicate}' appears more than once; ids must be unique", field="id")
    return prompts


def generate_jsonl(
    generator: Generator,
    prompts: Sequence[Prompt],
    output_path: str | Path,
    config: GenerationConfig,
    *,
    chunk_size: int = 32,
    show_progress: bool = True,
) -> int:
    """Write one output row per prompt (``id``, ``messages``, ``responses``, settings); return rows written."""
    written = 0
    with JsonlWriter(output_path, key="id") as out:
        pending = [p for p in prompts if p.id not in out.done_keys]
        settings = {"generation": config.to_dict(), **generator.describe()}
        with progress_bar(len(pending), "rows", enabled=show_progress) as advance:
            for start in range(0, len(pending), chunk_size):
                chunk = pending[start : start + chunk_size]
                for prompt, responses in zip(chunk, generator.generate(chunk, config), strict=True):
                    out.write({"id": prompt.id, "messages": list(prompt.messages), "responses": responses, **settings})
                    written += 1
                advance(len(chunk))
    return written
