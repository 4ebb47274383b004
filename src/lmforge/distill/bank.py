"""The ICE ingredients: identity questions, seed templates and the vendor-mention flag.

The shipped question bank and seed templates are ours (``resources/``); the official
question CSV (``query`` plus an unused ``reference_responses``) and GPTFuzzer's
``seed_template.json`` load through the same functions, so a user can run the paper's
ingredients or their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lmforge.core.data import Field, read_json, read_records
from lmforge.core.errors import DataError

RESOURCES = Path(__file__).parent / "resources"
QUESTIONS_FILE = RESOURCES / "identity_questions.csv"
TEMPLATES_FILE = RESOURCES / "seed_templates.json"
CATEGORIES = ("team", "industry", "technology", "geography", "cooperation")
QUERY_SLOT = "{query}"
# The paper's Hard rule [design]: a template "mentions a vendor" when it contains either word.
PAPER_VENDOR_WORDS = ("openai", "gpt")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Question:
    """One identity question; ``category`` is empty when the source file has none (the official CSV)."""

    id: str
    query: str
    lang: str
    category: str = ""


@dataclass(frozen=True)
class Template:
    """One jailbreak template; ``{query}`` marks where the question goes (appended when absent)."""

    id: str
    text: str
    framing: str = ""

    def fill(self, query: str) -> str:
        """The prompt for ``query``: placed at ``{query}``, or appended with no separator (as the paper does)."""
        return self.text.replace(QUERY_SLOT, query) if QUERY_SLOT in self.text else self.text + query


def detect_lang(text: str) -> str:
    """``zh`` when the text holds any CJK character, else ``en``."""
    return "zh" if _CJK.search(text) else "en"


_QUESTION_SCHEMA = [
    Field("query", help="the identity question"),
    Field("id", required=False, default=""),
    Field("lang", required=False, default="", choices=("", "en", "zh")),
    Field("category", required=False, default="", choices=("", *CATEGORIES)),
]


def load_questions(path: str | Path | None = None, *, langs: Iterable[str] | None = None) -> list[Question]:
    """Questions from our bank (default) or any CSV/JSONL with a ``query`` column (the official layout works).

    ``langs`` keeps only those languages (detected from the text when the file has no ``lang``).
    """
    source = Path(path) if path is not None else QUESTIONS_FILE
    rows = read_records(source, _QUESTION_SCHEMA)
    if not rows:
        raise DataError(source, "no questions", fix="add rows with a 'query' column")
    keep = set(langs) if langs is not None else None
    questions = []
    for i, row in enumerate(rows, 1):
        query = row["query"].strip()
        q = Question(row["id"] or f"q{i:02d}", query, row["lang"] or detect_lang(query), row["category"])
        if keep is None or q.lang in keep:
            questions.append(q)
    return questions


def load_templates(path: str | Path | None = None, *, method: str = "Gptfuzzer") -> list[Template]:
    """Seed templates: ours (default), GPTFuzzer/EasyJailbreak ``seed_template.json``, or a JSON list.

    Accepted layouts: ``{"templates": [{"id", "template", "framing"}...]}`` (ours),
    ``{"attack": {METHOD: [str, ...]}}`` (EasyJailbreak; ``method`` picks the list), or a plain
    list of strings.
    """
    source = Path(path) if path is not None else TEMPLATES_FILE
    data = read_json(source)
    if isinstance(data, dict) and isinstance(data.get("attack"), dict):
        if method not in data["attack"]:
            raise DataError(
                source, f"no attack method {method!r}", fix=f"use one of: {', '.join(sorted(data['attack']))}"
            )
        data = data["attack"][method]
    elif isinstance(data, dict) and isinstance(data.get("templates"), list):
        data = data["templates"]
    if not isinstance(data, list) or not data:
        raise DataError(source, "no template list found", fix='expected {"templates": [...]} or GPTFuzzer\'s layout')
    templates = []
    for i, item in enumerate(data, 1):
        if isinstance(item, str):
            templates.append(Template(f"seed-{i:02d}", item))
        elif isinstance(item, dict) and isinstance(item.get("template"), str):
            templates.append(
                Template(str(item.get("id") or f"seed-{i:02d}"), item["template"], item.get("framing", ""))
            )
        else:
            raise DataError(source, f"template {i} is neither a string nor an object with 'template'")
    return templates


def mentions_vendor(text: str, vendor_words: Iterable[str] = PAPER_VENDOR_WORDS) -> bool:
    """Whether ``text`` names a vendor: any of ``vendor_words``, case-insensitive, as a substring.

    With the default words this is the paper's Hard rule K(t) (``openai`` or ``gpt``); pass a
    family registry's aliases (:meth:`FactBook.vendor_words`) to flag any vendor.
    """
    low = text.lower()
    return any(w.lower() in low for w in vendor_words)
