"""RSE prompt sets and ready-made reference answers: Arena-Hard, ShareGPT, Numina-style and plain JSONL.

A prompt set is named ``KIND:PATH`` (``arenahard:question.jsonl``, ``sharegpt:sample.json``,
``sharegpt-history:sample.json``, ``numina:train.jsonl``, ``jsonl:mine.jsonl``) or ``demo`` (the
prompts shipped with lmforge). Every reader checks each row and fails with a one-line
:class:`~lmforge.core.errors.DataError` naming the file, the line (or record) and the field.
Sampling is deterministic: the same seed draws the same prompts, kept in file order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lmforge.core.data import Field, RecordError, read_records
from lmforge.core.errors import DataError, LmforgeError

SHAREGPT_FIX = 'ShareGPT rows look like {"id": ..., "conversations": [{"from": "human", "value": ...}]}'
KINDS = ("arenahard", "sharegpt", "sharegpt-history", "numina", "jsonl", "demo")
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "assistant": "assistant",
    "system": "system",
}


@dataclass(frozen=True)
class RsePrompt:
    """One prompt of one dataset: the chat turns a model continues, and a ready-made reference if the file has one."""

    id: str
    dataset: str
    messages: tuple[dict, ...]
    reference: str | None = None

    @property
    def question(self) -> str:
        """The last user turn: what the judge is shown as the question."""
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")

    def to_dict(self) -> dict:
        return {"id": self.id, "dataset": self.dataset, "messages": list(self.messages)}


def _line_numbers(path: Path) -> list[int]:
    """1-based line numbers of the non-blank lines of a JSONL file (the rows read_records yields)."""
    with open(path, "rb") as f:
        return [i for i, raw in enumerate(f, 1) if raw.strip()]


def _rows(path: Path, schema: list[Field] | None = None) -> list[tuple[int, dict]]:
    """Rows with the line (JSONL) or record number (JSON) an error should name."""
    rows = read_records(path, schema)
    where = _line_numbers(path) if path.suffix in (".jsonl", ".ndjson") else range(1, len(rows) + 1)
    return list(zip(where, rows, strict=False))


def _error(path: Path, where: int, message: str, *, field: str | None = None, fix: str | None = None) -> DataError:
    """A one-line error at a JSONL line or, for a ``.json`` file, at a record number."""
    if path.suffix == ".json":
        return RecordError(path, message, record=where, field=field, fix=fix)
    return DataError(path, message, line=where, field=field, fix=fix)


def _text(path: Path, line: int, field: str, value: object, fix: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(path, line, "missing or empty text", field=field, fix=fix)
    return value


def read_arenahard(path: str | Path) -> list[RsePrompt]:
    """Arena-Hard ``question.jsonl``: ``uid`` + ``prompt`` (current), or ``question_id`` + ``turns`` (2024 format)."""
    path = Path(path)
    out = []
    for line, row in _rows(path):
        uid = row.get("uid", row.get("question_id"))
        if uid is None:
            raise _error(path, line, "no question id", field="uid", fix="Arena-Hard rows have 'uid' or 'question_id'")
        if "prompt" in row:
            text = _text(path, line, "prompt", row["prompt"], "the question text")
        else:
            turns = row.get("turns")
            if not isinstance(turns, list) or not turns or not isinstance(turns[0], dict):
                raise _error(
                    path,
                    line,
                    "needs 'prompt' or a non-empty 'turns' list",
                    field="turns",
                    fix='e.g. "turns": [{"content": "..."}]',
                )
            text = _text(path, line, "turns[0].content", turns[0].get("content"), "the question text")
        out.append(RsePrompt(str(uid), "arenahard", ({"role": "user", "content": text},)))
    return out


def _answer_text(row: dict) -> object:
    """The answer of one Arena-Hard ``model_answer`` row (either schema) or of a plain ``response`` row."""
    if "response" in row:
        return row["response"]
    messages = row.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        return content.get("answer") if isinstance(content, dict) else content
    choices = row.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        turns = choices[0].get("turns")
        if isinstance(turns, list) and turns and isinstance(turns[0], dict):
            return turns[0].get("content")
    return None


def read_answers(path: str | Path) -> dict[str, str]:
    """Reference answers by prompt id: Arena-Hard ``model_answer/*.jsonl`` (either schema) or ``{id, response}``."""
    path = Path(path)
    out: dict[str, str] = {}
    for line, row in _rows(path):
        uid = row.get("uid", row.get("question_id", row.get("id")))
        if uid is None:
            raise _error(path, line, "no prompt id", field="uid", fix="answer rows need 'uid', 'question_id' or 'id'")
        fix = "Arena-Hard answers keep the text in messages[-1].content(.answer); plain rows in 'response'"
        out[str(uid)] = _text(path, line, "answer", _answer_text(row), fix)
    return out


def read_sharegpt(path: str | Path, history: bool = False) -> list[RsePrompt]:
    """ShareGPT JSON (``[{id, conversations: [{from, value}]}]``): the first user turn, or the whole history.

    With ``history`` the prompt is every turn up to the last user turn (roles mapped to
    user / assistant / system). A conversation with no non-empty user turn is skipped: the
    shared sample has a few that open with a system or assistant turn only.
    """
    path = Path(path)
    out = []
    for line, row in _rows(path):
        turns = row.get("conversations")
        if not isinstance(turns, list):
            raise _error(path, line, "not a list of turns", field="conversations", fix=SHAREGPT_FIX)
        messages = []
        for k, turn in enumerate(turns):
            role = _SHAREGPT_ROLES.get(str(turn.get("from", "")).lower()) if isinstance(turn, dict) else None
            if role is None or not isinstance(turn.get("value"), str):
                raise _error(
                    path,
                    line,
                    f"turn {k}: needs 'from' (human/gpt/system) and a text 'value'",
                    field="conversations",
                )
            messages.append({"role": role, "content": turn["value"]})
        users = [i for i, m in enumerate(messages) if m["role"] == "user" and m["content"].strip()]
        if not users:
            continue
        kept = messages[: users[-1] + 1] if history else [messages[users[0]]]
        rid = str(row.get("id", line))
        out.append(RsePrompt(rid, "sharegpt", tuple(kept)))
    return out


def read_numina(path: str | Path) -> list[RsePrompt]:
    """Numina-style JSONL: a ``problem`` per row (``messages`` and ``solution`` may be there too and are not used)."""
    path = Path(path)
    out = []
    schema = [Field("problem", help="the problem statement"), Field("id", (str, int), required=False)]
    for line, row in _rows(path, schema):
        out.append(RsePrompt(str(row.get("id") or line), "numina", ({"role": "user", "content": row["problem"]},)))
    return out


def read_plain(path: str | Path, dataset: str | None = None) -> list[RsePrompt]:
    """Plain JSONL: ``prompt`` (text) or ``messages`` (chat turns), optional ``id`` and ``reference`` answer."""
    path = Path(path)
    name = dataset or path.stem
    schema = [
        Field("id", (str, int), required=False),
        Field("prompt", required=False, help="the prompt text"),
        Field("messages", list, required=False, help="chat turns [{role, content}]"),
        Field("reference", required=False, help="a reference answer"),
    ]
    out = []
    for line, row in _rows(path, schema):
        if row.get("messages"):
            msgs = row["messages"]
            if (
                not all(
                    isinstance(m, dict)
                    and isinstance(m.get("content"), str)
                    and m.get("role") in ("system", "user", "assistant")
                    for m in msgs
                )
                or msgs[-1].get("role") != "user"
            ):
                raise _error(
                    path,
                    line,
                    "chat turns need role (system/user/assistant) and content, ending on a user turn",
                    field="messages",
                )
            messages = tuple({"role": m["role"], "content": m["content"]} for m in msgs)
        else:
            text = _text(path, line, "prompt", row.get("prompt"), "each row needs 'prompt' (text) or 'messages'")
            messages = ({"role": "user", "content": text},)
        out.append(RsePrompt(str(row.get("id") or line), name, messages, row.get("reference")))
    return out


def demo_prompts() -> list[RsePrompt]:
    """The prompts shipped with lmforge (written for it): short how-to, explanation, list, code and math requests."""
    with resources.as_file(resources.files("lmforge.distill.rse") / "resources" / "demo_prompts.jsonl") as path:
        return read_plain(path, "demo")


def sample(prompts: list[RsePrompt], n: int | None, seed: int = 0) -> list[RsePrompt]:
    """``n`` prompts drawn with ``seed`` (per dataset name: other datasets change no draw), kept in file order."""
    if n is None or n >= len(prompts):
        return list(prompts)
    dataset = prompts[0].dataset if prompts else ""
    picked = sorted(random.Random(f"{seed}:{dataset}").sample(range(len(prompts)), n))
    return [prompts[i] for i in picked]


def load_prompt_set(spec: str, n: int | None = None, seed: int = 0) -> list[RsePrompt]:
    """Read ``KIND:PATH`` (or ``demo``), check that ids are unique, and sample ``n`` prompts with ``seed``."""
    kind, _, path = spec.partition(":")
    if kind not in KINDS or (kind != "demo" and not path):
        raise LmforgeError(f"prompt set {spec!r}: use KIND:PATH with KIND one of {', '.join(KINDS[:-1])}, or 'demo'")
    readers = {
        "arenahard": read_arenahard,
        "sharegpt": read_sharegpt,
        "sharegpt-history": lambda p: read_sharegpt(p, history=True),
        "numina": read_numina,
        "jsonl": read_plain,
    }
    prompts = demo_prompts() if kind == "demo" else readers[kind](Path(path))
    seen: set[str] = set()
    for p in prompts:
        if p.id in seen:
            raise DataError(path or "demo", f"prompt id {p.id!r} appears twice", fix="give every prompt a unique id")
        seen.add(p.id)
    if not prompts:
        raise DataError(path or "demo", "no usable prompts", fix="check the file and its KIND")
    return sample(prompts, n, seed)
