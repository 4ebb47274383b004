"""Questions and passages: FlashRAG JSONL, HotpotQA (original and IRCoT), StrategyQA, corpus JSONL.

Every reader returns the same :class:`Question` (id, question, gold aliases, the question's own
paragraphs and which of them are gold), so sampling, evaluation and the given-contexts mode never
care where a question came from. Paragraphs taken from a dataset get a content-hash id, so the
same Wikipedia paragraph shared by two HotpotQA questions is one corpus entry and a question's
gold ids can be looked up in a retriever's results (retrieval recall). A malformed file fails
with one :class:`~lmforge.core.errors.DataError` naming ``file:line``, the field and the fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from lmforge.core.data import DataError, Field, JsonlWriter, RecordError, read_records

FORMATS = ("flashrag", "hotpotqa", "hotpotqa-ircot", "strategyqa")
YES_NO = "yesno"
SPAN = "span"


@dataclass(frozen=True)
class Passage:
    """One retrievable paragraph (FlashRAG corpus row: ``id``, ``contents``, plus ``title``)."""

    id: str
    contents: str
    title: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "contents": self.contents}


@dataclass(frozen=True)
class Question:
    """A question, its gold aliases and, when the dataset has them, its own paragraphs.

    ``gold_ids`` name the supporting paragraphs among ``contexts``; empty means every context is
    gold (StrategyQA facts) or that the dataset gives none. ``answer_type`` is ``"yesno"`` for
    StrategyQA-style questions, whose predictions are mapped to yes/no before scoring.
    """

    id: str
    question: str
    golden_answers: tuple[str, ...]
    contexts: tuple[Passage, ...] = ()
    gold_ids: tuple[str, ...] = ()
    answer_type: str = SPAN

    @property
    def gold_passages(self) -> tuple[Passage, ...]:
        if not self.gold_ids:
            return self.contexts
        gold = set(self.gold_ids)
        return tuple(p for p in self.contexts if p.id in gold)

    @property
    def distractor_passages(self) -> tuple[Passage, ...]:
        gold = set(self.gold_ids)
        return tuple(p for p in self.contexts if gold and p.id not in gold)


def passage_id(title: str, contents: str) -> str:
    """A stable id for a dataset paragraph: the same title and text always get the same id."""
    return "p" + hashlib.sha1(f"{title}\x1f{contents}".encode()).hexdigest()[:15]


def make_passage(title: str, contents: str, id: str | None = None) -> Passage:
    """A passage with whitespace collapsed (HotpotQA joins sentences with double spaces) and a content id."""
    contents = " ".join(contents.split())
    return Passage(id=id if id is not None else passage_id(title, contents), contents=contents, title=title.strip())


# --- locating a record in its file --------------------------------------------------------------------


def _failer(path: Path, index: int, line: int | None) -> Callable[..., NoReturn]:
    """Raise a DataError at the record's file line (JSONL) or record number (.json)."""

    def fail(message: str, field: str | None = None, fix: str | None = None) -> NoReturn:
        if line is None:
            raise RecordError(path, message, record=index, field=field, fix=fix)
        raise DataError(path, message, line=line, field=field, fix=fix)

    return fail


def _records(path: str | Path, schema: Sequence[Field]) -> Iterable[tuple[dict, Callable[..., NoReturn]]]:
    """Rows checked against ``schema``, each with a ``fail`` that names its file line."""
    path = Path(path)
    rows = read_records(path, schema)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with open(path, "rb") as f:  # the JSONL reader skips blank lines: so do we, to map rows to lines
            lines = [n for n, raw in enumerate(f, 1) if raw.strip()]
        return ((row, _failer(path, i, lines[i - 1])) for i, row in enumerate(rows, 1))
    return ((row, _failer(path, i, None)) for i, row in enumerate(rows, 1))


def _strings(value: Any, field: str, fail: Callable[..., NoReturn], *, fix: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        fail(f"expected a non-empty list of non-empty strings, got {str(value)[:60]!r}", field=field, fix=fix)
    return tuple(v.strip() for v in value)


def _context_objects(
    items: list, text_key: str, fail: Callable[..., NoReturn], *, example: str, keep_ids: bool
) -> tuple[list[Passage], list[str]]:
    """Passages from ``[{title?, <text_key>, id?, is_supporting?}]`` and the ids of the supporting ones."""
    contexts, supporting = [], []
    for c in items:
        if not isinstance(c, dict) or not isinstance(c.get(text_key), str) or not isinstance(c.get("title") or "", str):
            fail(f"each context must be an object with a string '{text_key}'", field="contexts", fix=f"e.g. {example}")
        given_id = str(c["id"]) if keep_ids and c.get("id") is not None else None
        passage = make_passage(c.get("title") or "", c[text_key], given_id)
        contexts.append(passage)
        if c.get("is_supporting") is True:
            supporting.append(passage.id)
    return contexts, supporting


def _unique(pairs: Iterable[tuple[Question, Callable[..., NoReturn]]]) -> list[Question]:
    """The questions, failing at the first repeated id."""
    questions, seen = [], set()
    for q, fail in pairs:
        if q.id in seen:
            fail(f"question id {q.id!r} appears twice", field="id", fix="question ids must be unique")
        seen.add(q.id)
        questions.append(q)
    return questions


# --- FlashRAG ------------------------------------------------------------------------------------------

FLASHRAG_SCHEMA = (
    Field("id", (str, int), help="the question id"),
    Field("question", help="the question text"),
    Field("golden_answers", list, help="list of gold answer aliases"),
    Field("contexts", list, required=False, default=[], help="the question's own paragraphs, {id?, title?, contents}"),
    Field("gold_ids", list, required=False, default=[], help="ids of the supporting paragraphs among contexts"),
    Field("answer_type", required=False, default=SPAN, choices=(SPAN, YES_NO), help="span or yesno"),
    Field("metadata", dict, required=False, default={}, help="anything else (read, not used)"),
)


def read_flashrag(path: str | Path) -> list[Question]:
    """FlashRAG QA JSONL: ``{"id", "question", "golden_answers": [..]}`` plus optional ``contexts``/``gold_ids``.

    A context is ``{"contents", "title"?, "id"?, "is_supporting"?}``; ``is_supporting: true``
    marks gold paragraphs as ``gold_ids`` does.
    """
    questions = []
    for row, fail in _records(path, FLASHRAG_SCHEMA):
        golds = _strings(row["golden_answers"], "golden_answers", fail, fix='e.g. "golden_answers": ["Paris"]')
        example = '{"id": "p1", "title": "Paris", "contents": "Paris is ..."}'
        contexts, supporting = _context_objects(row["contexts"], "contents", fail, example=example, keep_ids=True)
        gold_ids = list(dict.fromkeys([str(g) for g in row["gold_ids"]] + supporting))
        unknown = set(gold_ids) - {p.id for p in contexts}
        if unknown:
            fail(
                f"gold ids {sorted(unknown)} are not ids of its contexts",
                field="gold_ids",
                fix="list the 'id' of supporting contexts",
            )
        q = Question(
            str(row["id"]), row["question"].strip(), golds, tuple(contexts), tuple(gold_ids), row["answer_type"]
        )
        questions.append((q, fail))
    return _unique(questions)


# --- HotpotQA, original format -------------------------------------------------------------------------

HOTPOTQA_SCHEMA = (
    Field("_id", (str, int), help="the question id"),
    Field("question", help="the question text"),
    Field("answer", help="the gold answer"),
    Field("context", list, help="[[title, [sentence, ...]], ...] (distractor setting)"),
    Field("supporting_facts", list, required=False, default=[], help="[[title, sentence index], ...]"),
)


def read_hotpotqa(path: str | Path) -> list[Question]:
    """Original HotpotQA json (``_id``, ``question``, ``answer``, ``context``, ``supporting_facts``).

    A paragraph is gold when a supporting fact names its title; its sentences are joined.
    """
    questions = []
    for row, fail in _records(path, HOTPOTQA_SCHEMA):
        supporting = set()
        for fact in row["supporting_facts"]:
            if not isinstance(fact, list) or not fact or not isinstance(fact[0], str):
                fail("each supporting fact must be [title, sentence index]", field="supporting_facts")
            supporting.add(fact[0])
        contexts, gold_ids = [], []
        for item in row["context"]:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], str)
                or not isinstance(item[1], list)
                or not all(isinstance(s, str) for s in item[1])
            ):
                fail(
                    f"expected [title, [sentence, ...]], got {str(item)[:60]!r}",
                    field="context",
                    fix="use the distractor-setting file of HotpotQA",
                )
            passage = make_passage(item[0], "".join(item[1]))
            contexts.append(passage)
            if item[0] in supporting:
                gold_ids.append(passage.id)
        answer = row["answer"].strip()
        if not answer:
            fail("the answer is empty", field="answer")
        q = Question(str(row["_id"]), row["question"].strip(), (answer,), tuple(contexts), tuple(gold_ids))
        questions.append((q, fail))
    return _unique(questions)


# --- HotpotQA, IRCoT format ----------------------------------------------------------------------------

IRCOT_SCHEMA = (
    Field("question_id", (str, int), help="the question id"),
    Field("question_text", help="the question text"),
    Field("answers_objects", list, help='[{"spans": [answer, ...]}, ...]'),
    Field("contexts", list, required=False, default=[], help="[{id, title, paragraph_text, is_supporting}]"),
)


def read_hotpotqa_ircot(path: str | Path) -> list[Question]:
    """IRCoT's processed HotpotQA JSONL (``question_id``, ``question_text``, ``answers_objects``, ``contexts``)."""
    questions = []
    for row, fail in _records(path, IRCOT_SCHEMA):
        spans = [s for obj in row["answers_objects"] if isinstance(obj, dict) for s in (obj.get("spans") or [])]
        golds = _strings(spans, "answers_objects", fail, fix='e.g. [{"spans": ["Paris"]}]')
        example = '{"title": "Paris", "paragraph_text": "...", "is_supporting": true}'
        # IRCoT's ids are positions ("0".."9"), repeated across questions: content ids replace them
        contexts, gold_ids = _context_objects(row["contexts"], "paragraph_text", fail, example=example, keep_ids=False)
        q = Question(str(row["question_id"]), row["question_text"].strip(), golds, tuple(contexts), tuple(gold_ids))
        questions.append((q, fail))
    return _unique(questions)


# --- StrategyQA ----------------------------------------------------------------------------------------

STRATEGYQA_SCHEMA = (
    Field("qid", (str, int), help="the question id"),
    Field("question", help="the yes/no question"),
    Field("answer", bool, help="true for yes, false for no"),
    Field("facts", list, required=False, default=[], help="the facts that answer it (used as gold paragraphs)"),
    Field("term", required=False, default="", help="the Wikipedia term the question is about"),
)


def read_strategyqa(path: str | Path) -> list[Question]:
    """StrategyQA json (``qid``, ``question``, ``answer`` true/false, ``facts``); facts become gold paragraphs."""
    questions = []
    for row, fail in _records(path, STRATEGYQA_SCHEMA):
        facts = row["facts"]
        if not all(isinstance(f, str) for f in facts):
            fail("'facts' must be a list of strings", field="facts")
        contexts = tuple(make_passage(row["term"], fact) for fact in facts if fact.strip())
        answer = "yes" if row["answer"] else "no"
        questions.append((Question(str(row["qid"]), row["question"].strip(), (answer,), contexts, (), YES_NO), fail))
    return _unique(questions)


# --- any of them ---------------------------------------------------------------------------------------

_READERS: dict[str, Callable[[str | Path], list[Question]]] = {
    "flashrag": read_flashrag,
    "hotpotqa": read_hotpotqa,
    "hotpotqa-ircot": read_hotpotqa_ircot,
    "strategyqa": read_strategyqa,
}
_SIGNATURES = (  # keys of a first record that identify each format
    ("flashrag", {"question", "golden_answers"}),
    ("hotpotqa-ircot", {"question_text", "answers_objects"}),
    ("hotpotqa", {"_id", "context"}),
    ("strategyqa", {"qid", "answer"}),
)


def detect_format(path: str | Path) -> str:
    """Which of :data:`FORMATS` a question file is in, from the keys of its first record."""
    first = read_records(path, limit=1)
    if not first:
        raise DataError(path, "no questions in the file", fix="the file is empty")
    keys = set(first[0])
    for name, needed in _SIGNATURES:
        if needed <= keys:
            return name
    raise DataError(
        path,
        f"unknown question format (first record has keys {', '.join(sorted(keys))})",
        fix="use FlashRAG JSONL {id, question, golden_answers}, HotpotQA, HotpotQA-IRCoT or StrategyQA, "
        "or pass the format",
    )


def read_questions(path: str | Path, format: str = "auto", *, limit: int | None = None) -> list[Question]:
    """Questions from any supported file; ``format`` is one of :data:`FORMATS` or ``"auto"``."""
    if format == "auto":
        format = detect_format(path)
    if format not in _READERS:
        raise DataError(path, f"unknown question format {format!r}", fix=f"use auto or one of: {', '.join(FORMATS)}")
    questions = _READERS[format](path)
    if not questions:
        raise DataError(path, "no questions in the file", fix="the file is empty")
    return questions[:limit]


def write_questions(questions: Iterable[Question], path: str | Path) -> None:
    """Write questions as FlashRAG JSONL (with their contexts and gold ids), readable by :func:`read_flashrag`."""
    path = Path(path)
    path.unlink(missing_ok=True)
    with JsonlWriter(path) as out:
        for q in questions:
            row = {"id": q.id, "question": q.question, "golden_answers": list(q.golden_answers)}
            row |= {"contexts": [p.to_dict() for p in q.contexts], "gold_ids": list(q.gold_ids)}
            out.write(row | {"answer_type": q.answer_type})


# --- corpus --------------------------------------------------------------------------------------------

CORPUS_SCHEMA = (
    Field("id", (str, int), help="the passage id"),
    Field("contents", help="the passage text"),
    Field("title", required=False, default="", help="the passage's title"),
)


def read_corpus(path: str | Path) -> list[Passage]:
    """Corpus JSONL ``{id, title?, contents}`` (FlashRAG's passage format plus an optional title)."""
    passages, seen = [], set()
    for row, fail in _records(path, CORPUS_SCHEMA):
        pid = str(row["id"])
        if pid in seen:
            fail(f"passage id {pid!r} appears twice", field="id", fix="passage ids must be unique")
        if not row["contents"].strip():
            fail("empty passage", field="contents", fix="drop the row or give it text")
        seen.add(pid)
        passages.append(Passage(pid, row["contents"], row["title"]))
    if not passages:
        raise DataError(path, "no passages in the corpus", fix="the file is empty")
    return passages


def write_corpus(passages: Iterable[Passage], path: str | Path) -> None:
    """Write a corpus JSONL that :func:`read_corpus` (and FlashRAG) read back."""
    path = Path(path)
    path.unlink(missing_ok=True)
    with JsonlWriter(path) as out:
        for p in passages:
            out.write(p.to_dict())


def corpus_from_questions(questions: Iterable[Question]) -> list[Passage]:
    """Pool every question's own paragraphs into one corpus, once each (first occurrence kept)."""
    seen: dict[str, Passage] = {}
    for q in questions:
        for p in q.contexts:
            seen.setdefault(p.id, p)
    return list(seen.values())
