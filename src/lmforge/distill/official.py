"""Reading the official ICE data layout (``attack_result/``, ``loose_score/``, ``strict_score/``).

The official repository names one model three ways (``gpt_GPT_Phi4.jsonl``,
``GPT_phi-4_0.22.csv``, ``deepseek-r1_0.292.csv``), stores the judgement bits as JSON
booleans, ``"True"`` or ``"1"``, keeps the response as a stringified Python list in its
CSVs, and ships one strict file that is a copy of a loose file (no strict column). This
module hides all of that behind :func:`discover` and :class:`OfficialRun`.
"""

from __future__ import annotations

import ast
import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lmforge.core.data import Field, RecordError, read_records
from lmforge.core.errors import DataError, LmforgeError

ATTACK_DIR, LOOSE_DIR, STRICT_DIR = "attack_result", "loose_score", "strict_score"
STRICT_COLUMNS = ("re_judge", "strict_score", "strict")  # the strict bit's name drifted across versions
_TRUE = {"true", "1", "yes", "1.0"}
_FALSE = {"false", "0", "no", "0.0", ""}
_ATTACK_NAME = re.compile(r"^(?:gpt_)?(?:gpt_)?(?P<name>.+)$", re.IGNORECASE)
_SCORE_NAME = re.compile(r"^(?:gpt_)?(?P<name>.+?)_(?P<score>\d+(?:\.\d+)?)$", re.IGNORECASE)

_ROW_SCHEMA = [
    Field("jailbreak_prompt", help="the mutated template the target saw"),
    Field("query", help="the identity question"),
    Field("target_responses", type=(list, str), help="the target's response (a one-element list)"),
    Field("eval_results", type=(bool, int, str), required=False, help="the loose judgement"),
]


@dataclass(frozen=True)
class Row:
    """One judged response: the template, question, response text and the official bits (None = absent)."""

    template: str
    query: str
    response: str
    loose: bool | None = None
    strict: bool | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.template, self.query.strip(), self.response.strip())


@dataclass
class OfficialRun:
    """One target model's files; any of the three may be missing."""

    name: str
    attack: Path | None = None
    loose: Path | None = None
    strict: Path | None = None

    def attack_rows(self) -> list[Row]:
        return _read_rows(self.attack) if self.attack else []

    def loose_rows(self) -> list[Row]:
        return _read_rows(self.loose) if self.loose else []

    def strict_rows(self) -> list[Row] | None:
        """The strict hits, or ``None`` when the file holds no strict judgement (a copy of a loose file)."""
        if self.strict is None:
            return None
        rows = _read_rows(self.strict, strict=True)
        if rows and all(r.strict is None for r in rows):
            return None
        if not rows and not _has_strict_column(self.strict):
            return None
        return [r for r in rows if r.strict]

    def labelled_rows(self) -> list[Row]:
        """The attack rows with their official strict label: in the strict file (matched by template, query, text)."""
        strict = self.strict_rows()
        hits = Counter(r.key for r in strict) if strict is not None else Counter()
        out = []
        for r in self.attack_rows():
            in_strict = hits[r.key] > 0
            if in_strict:
                hits[r.key] -= 1
            out.append(Row(r.template, r.query, r.response, r.loose, None if strict is None else in_strict))
        return out


def model_key(name: str) -> str:
    """A name with case and separators removed: ``phi-4`` = ``Phi4``, ``llama-3.1`` = ``llama3.1``."""
    return re.sub(r"[\s._-]+", "", name.lower())


def _attack_name(path: Path) -> str:
    return _ATTACK_NAME.match(path.stem)["name"]  # type: ignore[index]


def _score_name(path: Path) -> str:
    m = _SCORE_NAME.match(path.stem)
    if m is None:
        raise DataError(path, "score file name lacks a '_<score>' suffix", fix="name it <model>_<score>.csv")
    return m["name"]


def find_data_dir(path: str | Path) -> Path:
    """The folder holding ``attack_result/`` etc.: ``path`` itself or the one folder below it that has them."""
    root = Path(path)
    if not root.is_dir():
        raise LmforgeError(f"{root}: not a directory (point at the official 'identity_jailbreak/data' folder)")
    dirs = (ATTACK_DIR, LOOSE_DIR, STRICT_DIR)
    if any((root / d).is_dir() for d in dirs):
        return root
    found = sorted({p.parent for d in dirs for p in root.rglob(d) if p.is_dir()})
    if len(found) == 1:
        return found[0]
    what = "several such folders: " + ", ".join(map(str, found)) if found else "none"
    raise LmforgeError(f"{root}: expected a folder with {', '.join(dirs)} subfolders, found {what}")


def discover(path: str | Path) -> list[OfficialRun]:
    """Every model in an official data folder, its files paired across the three subfolders.

    Names are compared without case and separators; a score file whose name still matches
    nothing is paired with the one unmatched model whose name it extends or is extended by
    (``gemini-1.5-pro-flash`` loose with ``gemini-1.5-pro`` strict).
    """
    root = find_data_dir(path)
    runs: dict[str, OfficialRun] = {}
    for p in sorted((root / ATTACK_DIR).glob("*.jsonl")):
        runs[model_key(_attack_name(p))] = OfficialRun(_attack_name(p), attack=p)
    for sub, attr in ((LOOSE_DIR, "loose"), (STRICT_DIR, "strict")):
        pending = []
        for p in sorted((root / sub).glob("*.csv")):
            key = model_key(_score_name(p))
            if key in runs and getattr(runs[key], attr) is None:
                setattr(runs[key], attr, p)
            else:
                pending.append((key, p))
        for key, p in pending:
            free = [k for k, r in runs.items() if getattr(r, attr) is None and (k.startswith(key) or key.startswith(k))]
            if len(free) == 1:
                setattr(runs[free[0]], attr, p)
            else:
                runs[key] = OfficialRun(_score_name(p), **{attr: p})
    if not runs:
        raise LmforgeError(f"{root}: no .jsonl or .csv files in {ATTACK_DIR}/, {LOOSE_DIR}/ or {STRICT_DIR}/")
    return list(runs.values())


def _bit(value: object, path: Path, record: int, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RecordError(
        path, f"expected a true/false value, got {value!r}", record=record, field=field, fix="use True/False or 1/0"
    )


def _response_text(value: object) -> str:
    """The response: a JSON list, or the Python-list string the official CSVs hold, or plain text."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _has_strict_column(path: Path) -> bool:
    with open(path, encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f), [])
    return any(c in header for c in STRICT_COLUMNS)


def _read_rows(path: Path, *, strict: bool = False) -> list[Row]:
    rows = []
    for i, rec in enumerate(read_records(path, _ROW_SCHEMA), 1):  # i: the record's number, for messages
        loose = rec.get("eval_results")
        column = next((c for c in STRICT_COLUMNS if c in rec), None) if strict else None
        rows.append(
            Row(
                rec["jailbreak_prompt"],
                rec["query"],
                _response_text(rec["target_responses"]),
                None if loose is None else _bit(loose, path, i, "eval_results"),
                None if column is None else _bit(rec[column], path, i, column),
            )
        )
    return rows
